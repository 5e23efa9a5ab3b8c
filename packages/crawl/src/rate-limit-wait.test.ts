import { describe, expect, it } from 'vitest';
import { MAX_RATE_LIMIT_WAIT_MS, rateLimitWaitMs } from './crawl-to-end.ts';

describe('rateLimitWaitMs (crawl --once and the demo sleep this long for a 429)', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');

  it('sleeps until the reset and 100 ms more, at least 100 ms', () => {
    expect(rateLimitWaitMs(new Date(now + 30_000), now)).toBe(30_100);
    expect(rateLimitWaitMs(new Date(now - 5_000), now)).toBe(100);
  });

  it('never sleeps longer than the cap, so never past what setTimeout can wait', () => {
    // 30 days, and the year 5138: past 2^31 − 1 ms a timer fires after 1 ms.
    expect(rateLimitWaitMs(new Date(now + 30 * 86_400_000), now)).toBe(MAX_RATE_LIMIT_WAIT_MS);
    expect(rateLimitWaitMs(new Date(99_999_999_999_000), now)).toBe(MAX_RATE_LIMIT_WAIT_MS);
    expect(rateLimitWaitMs(new Date(now + 60 * 60_000), now, 5_000)).toBe(5_000);
  });

  it('sleeps a minute for a reset that is not a date, never NaN', () => {
    expect(rateLimitWaitMs(new Date(Number.NaN), now)).toBe(60_000);
    expect(rateLimitWaitMs(new Date(now + 1_000), Number.NaN)).toBe(60_000);
    expect(rateLimitWaitMs(new Date(Number.NaN), now, 5_000)).toBe(5_000);
  });
});
