import { UnrecoverableError } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { crawlBackoffDelay, createBackoffStrategy } from './backoff.ts';
import { parseJob, validatePayload } from './job-catalog.ts';
import { crawlQueueName, parseCrawlQueueName } from './queue-names.ts';
import { checkEvictionPolicy } from './redis-connection.ts';

const valid = {
  provider: 'x',
  userId: '1925089021710983421',
  runId: '7',
  kind: 'incremental',
  page: 0,
} as const;

describe('parseJob', () => {
  it('accepts a valid crawl-page payload and keeps snowflakes as strings', () => {
    const { payload } = parseJob('crawl-page', valid, 'crawl-page');
    expect(payload.userId).toBe('1925089021710983421');
  });

  it.each([
    [{ ...valid, userId: 1925089021 }, 'userId'],
    [{ ...valid, userId: '-5' }, 'userId'],
    [{ ...valid, runId: '' }, 'runId'],
    [{ ...valid, provider: 'mastodon' }, 'provider'],
    [{ ...valid, page: -1 }, 'page'],
    [{ ...valid, kind: 'full' }, 'kind'],
    [null, '(payload)'],
  ])('turns an invalid payload into an UnrecoverableError naming the field (%#)', (data, field) => {
    let caught: unknown;
    try {
      parseJob('crawl-page', data);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(UnrecoverableError);
    expect((caught as Error).message).toContain(field);
  });

  it('rejects a job name outside the catalog as unrecoverable', () => {
    expect(() => parseJob('crawl-everything', valid)).toThrow(UnrecoverableError);
  });

  it('refuses to enqueue an invalid payload (a producer bug fails where it happens)', () => {
    expect(() => validatePayload('crawl-page', { ...valid, runId: 'x' as string })).toThrow(
      /runId/,
    );
  });
});

describe('crawl backoff', () => {
  it('doubles, stays within [ceiling/2, ceiling] and is capped', () => {
    expect(crawlBackoffDelay(1, { baseMs: 1000, random: () => 0 })).toBe(500);
    expect(crawlBackoffDelay(1, { baseMs: 1000, random: () => 1 })).toBe(1000);
    expect(crawlBackoffDelay(4, { baseMs: 1000, random: () => 1 })).toBe(8000);
    expect(crawlBackoffDelay(30, { baseMs: 1000, capMs: 60_000, random: () => 1 })).toBe(60_000);
  });

  it('spreads simultaneous retries (jitter)', () => {
    const delays = new Set(Array.from({ length: 20 }, () => crawlBackoffDelay(3)));
    expect(delays.size).toBeGreaterThan(1);
  });

  it("lets the worker's base delay win over the job's", async () => {
    const strategy = createBackoffStrategy({ baseMs: 10, random: () => 1 });
    expect(await strategy(2, 'crawl-exponential-jitter')).toBe(20);
  });
});

describe('queue names', () => {
  it('names one queue per provider credential and parses it back', () => {
    expect(crawlQueueName('x', 'team-b')).toBe('crawl.x.team-b');
    expect(parseCrawlQueueName('crawl.agntdata.default')).toEqual({
      provider: 'agntdata',
      credentialLabel: 'default',
    });
    expect(parseCrawlQueueName('emails')).toBeNull();
  });

  it('refuses a label that looks like a token or breaks key syntax', () => {
    expect(() => crawlQueueName('x', 'AAAA:secret')).toThrow(/credential label/);
    expect(() => crawlQueueName('x', 'a'.repeat(80))).toThrow(/credential label/);
  });
});

describe('checkEvictionPolicy', () => {
  it('passes noeviction', () => {
    expect(checkEvictionPolicy('noeviction')).toEqual({ ok: true, policy: 'noeviction' });
  });

  it.each(['allkeys-lru', 'volatile-lru', 'allkeys-lfu', 'volatile-ttl'])('refuses %s', (p) => {
    const check = checkEvictionPolicy(p);
    expect(check.ok).toBe(false);
    if (!check.ok) expect(check.reason).toContain(`"${p}"`);
  });

  it('refuses when the policy cannot be read', () => {
    expect(checkEvictionPolicy(null).ok).toBe(false);
  });
});
