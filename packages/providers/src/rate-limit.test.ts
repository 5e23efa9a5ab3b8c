import { describe, expect, it } from 'vitest';
import {
  MAX_RESET_AHEAD_MS,
  PAST_RESET_WAIT_MS,
  rateLimitResetAt,
  readRateLimit,
  readRetryAfter,
} from './rate-limit.ts';

const now = new Date('2026-01-01T00:00:00Z');

describe('rate-limit headers', () => {
  it("reads X's x-rate-limit-* with reset in epoch seconds", () => {
    expect(
      readRateLimit(
        {
          'x-rate-limit-limit': '1500',
          'x-rate-limit-remaining': '1499',
          'x-rate-limit-reset': '1618286183',
        },
        now,
      ),
    ).toEqual({ limit: 1500, remaining: 1499, resetAt: new Date(1618286183_000) });
  });

  it('reads x-ratelimit-* / ratelimit-* with reset as seconds from now', () => {
    expect(
      readRateLimit(
        { 'ratelimit-limit': '60', 'ratelimit-remaining': '0', 'ratelimit-reset': '12' },
        now,
      ),
    ).toEqual({ limit: 60, remaining: 0, resetAt: new Date(now.getTime() + 12_000) });
  });

  it('returns null when the window is incomplete or not numeric', () => {
    expect(readRateLimit({ 'x-rate-limit-limit': '15' }, now)).toBeNull();
    expect(
      readRateLimit(
        { 'x-rate-limit-limit': 'many', 'x-rate-limit-remaining': '1', 'x-rate-limit-reset': '1' },
        now,
      ),
    ).toBeNull();
  });

  it("converts the provider's epoch reset and HTTP dates to this clock when the Date header says they differ", () => {
    const window = {
      'x-rate-limit-limit': '15',
      'x-rate-limit-remaining': '0',
      'x-rate-limit-reset': String(now.getTime() / 1000 - 30 + 900),
    };
    // This machine runs 30 s ahead of the provider: its reset is 900 s after ITS now.
    const behind = { ...window, date: new Date(now.getTime() - 30_000).toUTCString() };
    expect(readRateLimit(behind, now)?.resetAt).toEqual(new Date(now.getTime() + 900_000));
    expect(
      readRetryAfter({ date: behind.date, 'retry-after': 'Wed, 31 Dec 2025 23:59:40 GMT' }, now),
    ).toEqual(new Date(now.getTime() + 10_000));
    // …and 30 s behind it.
    const ahead = {
      ...window,
      'x-rate-limit-reset': String(now.getTime() / 1000 + 30 + 900),
      date: new Date(now.getTime() + 30_000).toUTCString(),
    };
    expect(readRateLimit(ahead, now)?.resetAt).toEqual(new Date(now.getTime() + 900_000));
    // Agreeing clocks (the header's whole second, a little latency): the reset as sent.
    for (const skew of [0, 400, 900]) {
      const agree = { ...window, date: new Date(now.getTime() - skew).toUTCString() };
      expect(readRateLimit(agree, now)?.resetAt).toEqual(new Date(now.getTime() + 870_000));
    }
    // A second's fraction apart: rounded up to the whole second, so never early.
    const fraction = { ...window, date: new Date(now.getTime() - 30_000).toUTCString() };
    const later = new Date(now.getTime() + 400);
    expect(readRateLimit(fraction, later)?.resetAt).toEqual(new Date(now.getTime() + 901_000));
    // A Date header years old is a replayed response, not a clock.
    const stale = { ...window, date: 'Tue, 13 Apr 2021 03:56:23 GMT' };
    expect(readRateLimit(stale, now)?.resetAt).toEqual(new Date(now.getTime() + 870_000));
    // A relative reset is this clock's already.
    expect(readRateLimit({ ...behind, 'x-rate-limit-reset': '12' }, now)?.resetAt).toEqual(
      new Date(now.getTime() + 12_000),
    );
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(readRetryAfter({ 'retry-after': '30' }, now)).toEqual(new Date(now.getTime() + 30_000));
    expect(readRetryAfter({ 'retry-after': 'Thu, 01 Jan 2026 00:05:00 GMT' }, now)).toEqual(
      new Date('2026-01-01T00:05:00Z'),
    );
    expect(readRetryAfter({ 'retry-after': 'soon' }, now)).toBeUndefined();
    expect(readRetryAfter({}, now)).toBeUndefined();
  });

  it('picks the window reset, then Retry-After, then the body hint, then a minute', () => {
    const future = String(now.getTime() / 1000 + 900);
    const window = {
      'x-rate-limit-limit': '1',
      'x-rate-limit-remaining': '0',
      'x-rate-limit-reset': future,
    };
    expect(rateLimitResetAt({ ...window, 'retry-after': '5' }, 7, now)).toEqual(
      new Date(now.getTime() + 900_000),
    );
    expect(rateLimitResetAt({ 'retry-after': '5' }, 7, now)).toEqual(
      new Date(now.getTime() + 5_000),
    );
    expect(rateLimitResetAt({}, 7, now)).toEqual(new Date(now.getTime() + 7_000));
    expect(rateLimitResetAt({}, undefined, now)).toEqual(new Date(now.getTime() + 60_000));
    // A window whose reset already passed (clocks apart): a few seconds, not "now" again.
    const past = { ...window, 'x-rate-limit-reset': String(now.getTime() / 1000 - 2) };
    expect(rateLimitResetAt(past, undefined, now)).toEqual(
      new Date(now.getTime() + PAST_RESET_WAIT_MS),
    );
  });

  it('reads a reset in epoch milliseconds as such, not as seconds 58,000 years away', () => {
    const inMs = String(now.getTime() + 30_000);
    const window = readRateLimit(
      { 'x-ratelimit-limit': '60', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': inMs },
      now,
    );
    expect(window?.resetAt).toEqual(new Date(now.getTime() + 30_000));
  });

  it('never gives a reset that is not a date, nor one further than MAX_RESET_AHEAD_MS away', () => {
    const cap = new Date(now.getTime() + MAX_RESET_AHEAD_MS);
    const minute = new Date(now.getTime() + 60_000);
    // 400 digits: Infinity seconds, an Invalid Date: skipped, the next source answers.
    const endless = '9'.repeat(400);
    expect(readRetryAfter({ 'retry-after': endless }, now)).toBeUndefined();
    expect(rateLimitResetAt({ 'retry-after': endless }, undefined, now)).toEqual(minute);
    expect(rateLimitResetAt({ 'retry-after': endless }, 7, now)).toEqual(
      new Date(now.getTime() + 7_000),
    );
    const window = { 'x-rate-limit-limit': '1', 'x-rate-limit-remaining': '0' };
    expect(readRateLimit({ ...window, 'x-rate-limit-reset': endless }, now)).toBeNull();
    // Finite but absurd: 30 days, the year 5138 in epoch seconds, an HTTP date years ahead.
    expect(readRetryAfter({ 'retry-after': '2592000' }, now)).toEqual(cap);
    expect(readRetryAfter({ 'retry-after': 'Fri, 01 Jan 2100 00:00:00 GMT' }, now)).toEqual(cap);
    expect(readRateLimit({ ...window, 'x-rate-limit-reset': '99999999999' }, now)?.resetAt).toEqual(
      cap,
    );
    expect(rateLimitResetAt({ ...window, 'x-rate-limit-reset': '99999999999' }, 7, now)).toEqual(
      cap,
    );
    expect(rateLimitResetAt({}, 10 ** 12, now)).toEqual(cap);
    expect(rateLimitResetAt({}, Number.POSITIVE_INFINITY, now)).toEqual(minute);
    expect(rateLimitResetAt({}, Number.NaN, now)).toEqual(minute);
    // Within the bound: as sent.
    expect(readRetryAfter({ 'retry-after': '900' }, now)).toEqual(
      new Date(now.getTime() + 900_000),
    );
  });
});
