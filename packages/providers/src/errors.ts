import type { ProviderName } from '@birdfeed/model';
import type { RateLimitInfo } from './types.ts';

/**
 * Small typed errors that drive the worker's control flow (retry, pause the queue, mark the
 * target, stop the provider). Messages never contain a credential: every message built from a
 * response passes through the client's secret scrubber first.
 */
export interface ProviderErrorOptions {
  status?: number | undefined;
  cause?: unknown;
  /** See ProviderError.bodyCut. */
  bodyCut?: boolean | undefined;
}

export class ProviderError extends Error {
  override readonly name: string = 'ProviderError';
  readonly provider: ProviderName;
  readonly status: number | undefined;
  override readonly cause: unknown;
  /**
   * The status line said 2xx and the body then broke off or was cut (a reset, a body timeout,
   * an abort): on agntdata such a request was billed although no page came of it. Set only by
   * the HTTP exchange itself; an error the provider's body describes (agntdata's 200
   * `{success:false}` envelope, which is not charged) never carries it, whatever its status.
   */
  readonly bodyCut: boolean;
  /**
   * The rate-limit window the response's headers described, set by the client that received
   * it. X sends `x-rate-limit-*` on its 5xx and 4xx as on its pages: a 503 that was the last
   * request of the window says `remaining: 0`, and the next request, sent after a short
   * backoff, is a 429. Null when no response came or its headers did not describe a window.
   */
  rateLimit: RateLimitInfo | null = null;

  constructor(provider: ProviderName, message: string, options: ProviderErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.provider = provider;
    this.status = options.status;
    this.cause = options.cause;
    this.bodyCut = options.bodyCut === true;
  }
}

/**
 * What the response behind `error` said about the provider's window: the first ProviderError
 * with one in its cause chain (a crawl error that wraps the provider's keeps it as `cause`).
 */
export function rateLimitOf(error: unknown): RateLimitInfo | null {
  let at: unknown = error;
  for (let depth = 0; depth < 8 && at instanceof Error; depth += 1) {
    if (at instanceof ProviderError && at.rateLimit !== null) return at.rateLimit;
    at = at.cause;
  }
  return null;
}

export interface RateLimitedErrorOptions extends ProviderErrorOptions {
  resetAt: Date;
  limit?: number | undefined;
  remaining?: number | undefined;
}

/** 429: pause the provider's queue until `resetAt`, then retry the same request. */
export class RateLimitedError extends ProviderError {
  override readonly name = 'RateLimitedError';
  readonly resetAt: Date;
  readonly limit: number | undefined;
  readonly remaining: number | undefined;

  constructor(provider: ProviderName, message: string, options: RateLimitedErrorOptions) {
    super(provider, message, options);
    this.resetAt = options.resetAt;
    this.limit = options.limit;
    this.remaining = options.remaining;
  }
}

/** 401/403 about the credential itself: stop the provider and say so loudly. */
export class UnauthorizedError extends ProviderError {
  override readonly name: string = 'UnauthorizedError';
}

/** agntdata 402 or an exhausted credit balance. */
export class OutOfCreditsError extends ProviderError {
  override readonly name = 'OutOfCreditsError';
}

export type AccountUnavailableReason = 'not_found' | 'suspended' | 'protected' | 'deleted';

export interface AccountUnavailableErrorOptions extends ProviderErrorOptions {
  reason: AccountUnavailableReason;
  userId: string;
}

/** The watched account cannot be read: mark the target, do not retry forever. */
export class AccountUnavailableError extends ProviderError {
  override readonly name = 'AccountUnavailableError';
  readonly reason: AccountUnavailableReason;
  readonly userId: string;

  constructor(provider: ProviderName, message: string, options: AccountUnavailableErrorOptions) {
    super(provider, message, options);
    this.reason = options.reason;
    this.userId = options.userId;
  }
}

/**
 * The pagination/continuation token expired or is invalid: the window goes on without it (X:
 * below the oldest tweet it read, with until_id; agntdata: from the top again).
 */
export class InvalidCursorError extends ProviderError {
  override readonly name = 'InvalidCursorError';
}

/** 5xx, timeouts, connection resets, socket errors: retry with backoff. */
export class TransientError extends ProviderError {
  override readonly name = 'TransientError';
}

/** Any other 4xx: a bug on our side; retrying the same request will not help. */
export class BadRequestError extends ProviderError {
  override readonly name: string = 'BadRequestError';
}

/*
 * undici refuses to send some requests at all (UND_ERR_INVALID_ARG): a header value with CR, LF,
 * NUL or a character above U+00FF, a URL whose scheme is not http(s). Nothing reached the
 * provider, and the same request fails the same way every time, so neither is transient. They
 * extend the classes whose handling they need, so the worker's policy applies unchanged.
 */

/**
 * The credential itself cannot go into the Authorization header: every request with it fails
 * the same way. Stop the provider and say so, as for a 401 (the jobs wait for a fixed credential).
 */
export class UnsendableCredentialError extends UnauthorizedError {
  override readonly name: string = 'UnsendableCredentialError';
}

/** Any other request undici refuses to send (a base URL it cannot use): fail the page at once. */
export class UnsendableRequestError extends BadRequestError {
  override readonly name: string = 'UnsendableRequestError';
}

export interface InvalidResponseErrorOptions extends ProviderErrorOptions {
  /** JSON path of the first bad field, e.g. `data[3].author_id` (`$` = the body itself). */
  path: string;
  /** The body exactly as received, so the caller can keep it in raw_pages. */
  rawBody: string;
}

/** A body that is not JSON or does not match the provider's schema. */
export class InvalidResponseError extends ProviderError {
  override readonly name = 'InvalidResponseError';
  readonly path: string;
  readonly rawBody: string;
  /**
   * What the request that returned this body cost: a provider bills a successful request even
   * when its body then fails our schema (agntdata), and that money counts toward the budget.
   */
  costCents = 0;

  constructor(provider: ProviderName, message: string, options: InvalidResponseErrorOptions) {
    super(provider, message, options);
    this.path = options.path;
    this.rawBody = options.rawBody;
  }
}

/** What a client tells its error mapper about the request a non-2xx response answered. */
export interface ErrorResponseContext {
  userId: string;
  endpoint: string;
  /** Removes the client's secrets from any text that goes into a message. */
  scrub: (text: string) => string;
  now?: Date;
}
