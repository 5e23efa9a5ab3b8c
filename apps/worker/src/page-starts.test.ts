import { describe, expect, it } from 'vitest';
import { TooManyStartsError } from './page-starts.ts';

describe('TooManyStartsError', () => {
  it('names a run of 429s with the provider, and keeps the last status', () => {
    const error = new TooManyStartsError('agntdata', 41, 40, {
      held: 3,
      rateLimitedInARow: 7,
      lastError: 'RateLimitedError: agntdata 429 Too Many Requests',
      lastStatus: 429,
    });
    expect(error.message).toBe(
      'page started 41 times without finishing, more than the cap of 40 (not counting 3 re-runs after a 429 or a paused provider); last error: rate limited by agntdata 7 times in a row, last: RateLimitedError: agntdata 429 Too Many Requests',
    );
    expect(error.status).toBe(429);
  });

  it('says so when no start left an error behind (the worker died each time)', () => {
    const error = new TooManyStartsError('x', 5, 4, {
      held: 0,
      rateLimitedInARow: 0,
      lastError: null,
      lastStatus: null,
    });
    expect(error.message).toMatch(/started 5 times .*cap of 4; last error: no error on record/);
    expect(error.status).toBeUndefined();
  });
});
