import { BilledPageFailedError, RunMismatchError, TargetNotFoundError } from '@birdfeed/crawl';
import {
  AccountUnavailableError,
  BadRequestError,
  createXClient,
  InvalidResponseError,
  OutOfCreditsError,
  RateLimitedError,
  TransientError,
  UnauthorizedError,
} from '@birdfeed/providers';
import { UnrecoverableError } from 'bullmq';
import { describe, expect, it } from 'vitest';
import {
  DATABASE_DOWN_HOLD_MS,
  decideOnError,
  MAX_HOLD_MS,
  PageFailedError,
  rootError,
} from './error-policy.ts';

const now = Date.parse('2026-01-01T00:00:00Z');

describe('decideOnError', () => {
  it('429: waits until the reset plus the margin', () => {
    const error = new RateLimitedError('x', '429', {
      resetAt: new Date(now + 60_000),
      status: 429,
    });
    expect(decideOnError(error, { now, resetMarginMs: 250 })).toEqual({
      action: 'rate-limited',
      waitMs: 60_250,
    });
  });

  it('429 with a reset already past (skewed clocks): still a short pause, never zero', () => {
    const error = new RateLimitedError('x', '429', { resetAt: new Date(now - 5_000) });
    expect(decideOnError(error, { now })).toEqual({ action: 'rate-limited', waitMs: 100 });
  });

  it('429 with a reset absurdly far away (a misread header): held at most MAX_HOLD_MS', () => {
    const error = new RateLimitedError('x', '429', { resetAt: new Date(now + 10 * 86_400_000) });
    expect(decideOnError(error, { now })).toEqual({
      action: 'rate-limited',
      waitMs: MAX_HOLD_MS,
    });
  });

  it("Postgres unreachable holds the queue; a provider's network error with the same code retries", () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), {
      code: 'ECONNREFUSED',
    });
    // drizzle wraps the driver's error, its message quoting the statement and its values.
    const wrapped = new Error('Failed query: select 1\nparams: ', { cause: refused });
    const restarting = Object.assign(
      new Error('terminating connection due to administrator command'),
      {
        code: '57P01',
      },
    );
    for (const error of [
      refused,
      wrapped,
      restarting,
      new Error('Connection terminated unexpectedly'),
    ]) {
      expect(decideOnError(error)).toEqual({
        action: 'database-down',
        waitMs: DATABASE_DOWN_HOLD_MS,
      });
    }
    expect(decideOnError(new TransientError('x', 'reset', { cause: refused }))).toEqual({
      action: 'retry',
    });
    // A statement that failed for its own reasons is no outage, whatever its values say.
    const constraint = Object.assign(new Error('duplicate key value violates unique constraint'), {
      code: '23505',
    });
    const quoting = new Error('Failed query: insert …\nparams: Connection terminated', {
      cause: constraint,
    });
    expect(decideOnError(quoting)).toEqual({ action: 'retry' });
    const timedOut = Object.assign(new Error('canceling statement due to statement timeout'), {
      code: '57014',
    });
    expect(decideOnError(timedOut)).toEqual({ action: 'retry' });
  });

  it('401/403 and no credits stop the provider', () => {
    expect(decideOnError(new UnauthorizedError('x', '401', { status: 401 }))).toEqual({
      action: 'stop-provider',
      reason: 'unauthorized',
    });
    expect(decideOnError(new OutOfCreditsError('agntdata', '402', { status: 402 }))).toEqual({
      action: 'stop-provider',
      reason: 'out-of-credits',
    });
  });

  it.each([
    ['an invalid body', new InvalidResponseError('x', 'bad', { path: '$', rawBody: '{' })],
    [
      'a billed body broken off again at the same position (each retry is bought)',
      new BilledPageFailedError('cut', {
        cause: new TransientError('agntdata', 'body cut', { status: 200, bodyCut: true }),
        status: 200,
      }),
    ],
    ['another 4xx', new BadRequestError('x', '400', { status: 400 })],
    [
      'an unreadable account',
      new AccountUnavailableError('x', 'gone', { reason: 'suspended', userId: '1' }),
    ],
    ['a target removed meanwhile', new TargetNotFoundError({ provider: 'x', userId: '1' })],
    ['an invalid payload', new UnrecoverableError('bad payload')],
    ["another birdfeed's job (its run is not in this database)", new RunMismatchError('run 11')],
  ])('%s fails at once', (_what, error) => {
    expect(decideOnError(error)).toEqual({ action: 'fail' });
  });

  it.each([
    ['a 5xx', new TransientError('x', '503', { status: 503 })],
    ['a non-error', 'boom'],
  ])('%s is retried with backoff', (_what, error) => {
    expect(decideOnError(error)).toEqual({ action: 'retry' });
  });
});

describe('decideOnError on a request undici will not send (UND_ERR_INVALID_ARG)', () => {
  // Real undici calls: it refuses them before connecting, so no server is needed.
  async function errorOf(baseUrl: string, bearerToken: string): Promise<unknown> {
    const client = createXClient({ baseUrl, bearerToken });
    try {
      await client.fetchTimelinePage({ userId: '12' });
    } catch (error) {
      return error;
    } finally {
      await client.close();
    }
    throw new Error('the request was sent');
  }

  it('a credential no header can carry stops the provider instead of retrying', async () => {
    const error = await errorOf('http://127.0.0.1:9', 'token-with-a-crlf-end\r');
    expect(decideOnError(error)).toEqual({ action: 'stop-provider', reason: 'unauthorized' });
  });

  it('a base URL that is not http(s) fails the page at once', async () => {
    const error = await errorOf('localhost:4010', 'a-good-token');
    expect(decideOnError(error)).toEqual({ action: 'fail' });
  });
});

describe('PageFailedError', () => {
  it('fails the job in BullMQ terms but records the provider error', () => {
    const cause = new InvalidResponseError('x', 'data[0].id: expected string', {
      path: 'data[0].id',
      rawBody: '{}',
    });
    const wrapped = new PageFailedError(cause);
    expect(wrapped).toBeInstanceOf(UnrecoverableError);
    expect(rootError(wrapped)).toBe(cause);
    expect(rootError('text').message).toBe('text');
  });
});
