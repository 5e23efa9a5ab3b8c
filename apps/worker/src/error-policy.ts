import {
  BilledPageFailedError,
  ProviderMismatchError,
  RunMismatchError,
  TargetNotFoundError,
} from '@birdfeed/crawl';
import { isDatabaseConnectionError } from '@birdfeed/db';
import {
  AccountUnavailableError,
  BadRequestError,
  InvalidResponseError,
  OutOfCreditsError,
  ProviderError,
  RateLimitedError,
  UnauthorizedError,
} from '@birdfeed/providers';
import { UnrecoverableError } from 'bullmq';

/**
 * What the worker does with an error thrown by one page (DESIGN.md, "Rate limits and
 * failures"). Pure, so the whole policy is tested without a queue:
 *
 * - `rate-limited`: 429. Hold the whole queue until the provider's reset and run the same job
 *   again; it is not the job's fault, so it does not count as a failed attempt.
 * - `stop-provider`: 401/403, out of credits, or a credential undici will not put in a header
 *   (UnsendableCredentialError, an UnauthorizedError). Every other job on this credential would
 *   fail the same way: pause the queue, say so once, loudly, and keep the job for when it resumes.
 * - `fail`: retrying cannot help (a body that fails validation, a billed agntdata body that
 *   broke off again at the same position (BilledPageFailedError: each retry is bought again),
 *   another 4xx, a request undici will not send (UnsendableRequestError, a BadRequestError), an
 *   account that cannot be read, a bad payload, a target removed from the watchlist
 *   meanwhile). The job fails now; crawl_failures keeps the record.
 * - `database-down`: Postgres cannot be reached (refused, reset, restarting). Every job would
 *   fail the same way: hold the queue a few seconds at a time and run the job again, without
 *   counting an attempt — an outage longer than the retries' backoff (≈ 1–2 min) failed every
 *   queued page, and their failures could not even be recorded.
 * - `retry`: 5xx, timeouts, resets and anything unknown. Exponential backoff with jitter.
 */
export type ErrorDecision =
  | { action: 'rate-limited'; waitMs: number }
  | { action: 'stop-provider'; reason: 'unauthorized' | 'out-of-credits' }
  | { action: 'fail' }
  | { action: 'database-down'; waitMs: number }
  | { action: 'retry' };

/** How long the queue is held at a time while Postgres cannot be reached. */
export const DATABASE_DOWN_HOLD_MS = 10_000;

/**
 * No hold lasts longer: the longest window a provider uses is X's 15 minutes, so a reset further
 * away is a misread header (a unit we do not know), not a reason to stop every worker for days.
 */
export const MAX_HOLD_MS = 30 * 60_000;

export interface DecideOptions {
  now?: number;
  /** Added to the provider's reset so a clock a little behind the provider's does not 429. */
  resetMarginMs?: number;
  /** When a 429 carries no usable reset. @defaultValue 60000 */
  fallbackWaitMs?: number;
}

export function decideOnError(error: unknown, options: DecideOptions = {}): ErrorDecision {
  const now = options.now ?? Date.now();
  if (error instanceof RateLimitedError) {
    const resetMs = error.resetAt.getTime();
    const wait = Number.isFinite(resetMs)
      ? resetMs - now + (options.resetMarginMs ?? 250)
      : (options.fallbackWaitMs ?? 60_000);
    // A reset in the past (skewed clocks, a provider late to reopen) still gets a short pause.
    return { action: 'rate-limited', waitMs: Math.min(Math.max(wait, 100), MAX_HOLD_MS) };
  }
  if (error instanceof UnauthorizedError)
    return { action: 'stop-provider', reason: 'unauthorized' };
  if (error instanceof OutOfCreditsError) {
    return { action: 'stop-provider', reason: 'out-of-credits' };
  }
  if (
    error instanceof InvalidResponseError ||
    error instanceof BilledPageFailedError ||
    error instanceof BadRequestError ||
    error instanceof AccountUnavailableError ||
    error instanceof TargetNotFoundError ||
    error instanceof ProviderMismatchError ||
    error instanceof RunMismatchError ||
    error instanceof UnrecoverableError ||
    (error instanceof Error && error.name === 'UnrecoverableError')
  ) {
    return { action: 'fail' };
  }
  // A provider's network error carries the same codes (ECONNRESET…): it is the provider's.
  if (!(error instanceof ProviderError) && isDatabaseConnectionError(error)) {
    return { action: 'database-down', waitMs: DATABASE_DOWN_HOLD_MS };
  }
  return { action: 'retry' };
}

/**
 * Fails the job at once while keeping the provider's error as `cause`, so crawl_failures
 * records what really happened (InvalidResponseError, 400…) rather than "UnrecoverableError".
 */
export class PageFailedError extends UnrecoverableError {
  override readonly cause: unknown;

  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.cause = cause;
  }
}

/** The error a failure row should name: the provider's, not BullMQ's wrapper. */
export function rootError(error: unknown): Error {
  if (error instanceof PageFailedError && error.cause instanceof Error) return error.cause;
  return error instanceof Error ? error : new Error(String(error));
}
