import type { FetchedPage } from '@birdfeed/providers';
import { BadRequestError, RateLimitedError, TransientError } from '@birdfeed/providers';
import { describe, expect, it } from 'vitest';
import { limitedClient, RequestLimiter } from './request-limiter.ts';

/** A clock that moves only when the limiter sleeps, and the start of every request. */
function fakeClock() {
  let now = Date.parse('2026-06-01T00:00:00Z');
  const waits: number[] = [];
  return {
    now: () => now,
    sleep: async (ms: number) => {
      waits.push(ms);
      now += ms;
    },
    advance: (ms: number) => {
      now += ms;
    },
    waits,
  };
}

function page(rateLimit: FetchedPage['rateLimit']): FetchedPage {
  return {
    page: { provider: 'x', tweets: [], users: [], media: [], cursor: { next: null } },
    rawBody: '{}',
    status: 200,
    requestUrl: 'http://x.test/',
    rateLimit,
    costCents: 0,
    durationMs: 1,
  } as unknown as FetchedPage;
}

describe('RequestLimiter (crawl --once: the budget the worker takes from Redis, in-process)', () => {
  it('starts at most max requests per window, over concurrent callers', async () => {
    const clock = fakeClock();
    const limiter = new RequestLimiter({ max: 5, windowMs: 900_000, ...clock });
    const started: number[] = [];
    await Promise.all(
      Array.from({ length: 12 }, async () => {
        await limiter.acquire();
        started.push(clock.now());
      }),
    );
    const start = started[0] ?? 0;
    const windows = started.map((at) => Math.floor((at - start) / 900_000));
    expect(windows.filter((w) => w === 0)).toHaveLength(5);
    expect(windows.filter((w) => w === 1)).toHaveLength(5);
    expect(windows.filter((w) => w === 2)).toHaveLength(2);
  });

  it('holds every request until the reset when the provider says remaining 0', async () => {
    const clock = fakeClock();
    const limiter = new RequestLimiter({ max: 1500, windowMs: 900_000, marginMs: 250, ...clock });
    const resetAt = new Date(clock.now() + 60_000);
    let calls = 0;
    const client = limitedClient(
      {
        provider: 'x',
        fetchTimelinePage: async () => {
          calls += 1;
          return page({ limit: 1500, remaining: calls === 1 ? 0 : 10, resetAt });
        },
      },
      limiter,
    );
    const before = clock.now();
    await client.fetchTimelinePage({ userId: '1' });
    expect(clock.now()).toBe(before);
    await client.fetchTimelinePage({ userId: '1' });
    // Until the reset, its 100 ms and the margin: no request meets the spent window.
    expect(clock.now()).toBeGreaterThanOrEqual(resetAt.getTime());
    expect(clock.now() - before).toBeLessThanOrEqual(60_000 + 100 + 250);
  });

  it('holds every request until the reset of a 429, and rethrows it', async () => {
    const clock = fakeClock();
    const limiter = new RequestLimiter({ max: 1500, windowMs: 900_000, ...clock });
    const resetAt = new Date(clock.now() + 30_000);
    let calls = 0;
    const client = limitedClient(
      {
        provider: 'x',
        fetchTimelinePage: async () => {
          calls += 1;
          if (calls === 1) throw new RateLimitedError('x', '429', { resetAt } as never);
          return page(null);
        },
      },
      limiter,
    );
    await expect(client.fetchTimelinePage({ userId: '1' })).rejects.toBeInstanceOf(
      RateLimitedError,
    );
    await client.fetchTimelinePage({ userId: '1' });
    expect(clock.now()).toBeGreaterThanOrEqual(resetAt.getTime());
  });

  it("heeds an error response's window as a page's: remaining 0 holds, a later reset keeps the window open", async () => {
    const clock = fakeClock();
    const limiter = new RequestLimiter({ max: 2, windowMs: 10_000, marginMs: 0, ...clock });
    const start = clock.now();
    const spent = new TransientError('x', 'x /2/users/:id/tweets → 503', { status: 503 });
    spent.rateLimit = { limit: 2, remaining: 0, resetAt: new Date(start + 30_000) };
    // Then a 400 (no retry can fix it) whose provider window ends 2 s after the limiter's.
    const low = new BadRequestError('x', 'x /2/users/:id/tweets → 400', { status: 400 });
    low.rateLimit = { limit: 2, remaining: 1, resetAt: new Date(start + 30_100 + 12_000) };
    const errors = [spent, low];
    const startedAt: number[] = [];
    const client = limitedClient(
      {
        provider: 'x',
        fetchTimelinePage: async () => {
          startedAt.push(clock.now() - start);
          // Each response arrives 3 s after its request.
          clock.advance(3_000);
          const error = errors.shift();
          if (error !== undefined) throw error;
          return page(null);
        },
      },
      limiter,
    );
    await expect(client.fetchTimelinePage({ userId: '1' })).rejects.toBe(spent);
    await expect(client.fetchTimelinePage({ userId: '1' })).rejects.toBe(low);
    await client.fetchTimelinePage({ userId: '1' });
    await client.fetchTimelinePage({ userId: '1' });
    expect(startedAt).toEqual([
      0,
      // After the 503: its reset and 100 ms, not a moment less.
      30_100, 33_100,
      // The limiter's window (opened at 30 100) lasts until the provider's reset the 400 named.
      42_100,
    ]);
  });

  it('caps a hold at maxHoldMs and holds a minute for a reset that is not a date', async () => {
    const clock = fakeClock();
    const limiter = new RequestLimiter({
      max: 10,
      windowMs: 60_000,
      maxHoldMs: 5_000,
      marginMs: 0,
      ...clock,
    });
    limiter.holdUntil(new Date(clock.now() + 86_400_000));
    const before = clock.now();
    await limiter.acquire();
    expect(clock.now() - before).toBe(5_000);

    const other = fakeClock();
    const unlimited = new RequestLimiter({ max: 10, windowMs: 60_000, marginMs: 0, ...other });
    unlimited.holdUntil(new Date(Number.NaN));
    const at = other.now();
    await unlimited.acquire();
    expect(other.now() - at).toBe(60_000);
  });

  it('keeps the window open until the provider resets, so it never rolls into a spent one', async () => {
    const clock = fakeClock();
    const limiter = new RequestLimiter({ max: 2, windowMs: 10_000, marginMs: 0, ...clock });
    const start = clock.now();
    await limiter.acquire();
    // The first response arrives 3 s in; the provider's window ends 12 s in (ours: 10 s).
    clock.advance(3_000);
    limiter.observe({ limit: 2, remaining: 1, resetAt: new Date(start + 12_000) });
    await limiter.acquire();
    await limiter.acquire();
    expect(clock.now() - start).toBe(12_000);
  });

  it('stops waiting when the signal fires', async () => {
    const limiter = new RequestLimiter({ max: 1, windowMs: 60_000 });
    await limiter.acquire();
    const abort = new AbortController();
    const waiting = limiter.acquire(abort.signal);
    abort.abort(new Error('interrupted'));
    await expect(waiting).rejects.toThrow('interrupted');
  });

  it('takes every request from the shared limiter too, and sets its holds there', async () => {
    const clock = fakeClock();
    const answers = [0, 0, 40_000, 0];
    const holds: number[] = [];
    const limiter = new RequestLimiter({
      max: 1500,
      windowMs: 900_000,
      marginMs: 0,
      ...clock,
      shared: {
        take: async () => answers.shift() ?? 0,
        hold: async (ms) => {
          holds.push(ms);
        },
      },
    });
    const start = clock.now();
    await limiter.acquire();
    await limiter.acquire();
    // The workers used up the shared window: wait as long as it says, then take again.
    await limiter.acquire();
    expect(clock.now() - start).toBe(40_000);
    expect(answers).toEqual([]);
    limiter.holdUntil(new Date(clock.now() + 10_000));
    expect(holds).toEqual([10_100]);
  });

  it('a Ctrl-C does not wait for a Redis that never answers, and a Redis failure names the limiter', async () => {
    const silent = new RequestLimiter({
      max: 10,
      windowMs: 60_000,
      shared: { take: () => new Promise<number>(() => {}), hold: async () => {} },
    });
    const stop = new AbortController();
    const waiting = silent.acquire(stop.signal).then(
      () => 'acquired',
      (error: unknown) => `rejected: ${(error as Error).message}`,
    );
    setTimeout(() => stop.abort(new Error('interrupted')), 20);
    expect(
      await Promise.race([
        waiting,
        new Promise((resolve) => setTimeout(() => resolve('still waiting'), 2_000)),
      ]),
    ).toBe('rejected: interrupted');

    const failing = new RequestLimiter({
      max: 10,
      windowMs: 60_000,
      shared: {
        take: async () => {
          throw new Error('Command timed out');
        },
        hold: async () => {},
      },
    });
    await expect(failing.acquire()).rejects.toThrow(
      "could not take a request from the workers' limiter in Redis: Command timed out",
    );
  });
});
