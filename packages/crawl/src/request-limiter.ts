import { RateLimitedError, rateLimitOf } from '@birdfeed/providers';
import {
  defaultSleep,
  MAX_RATE_LIMIT_WAIT_MS,
  rateLimitWaitMs,
  type Sleep,
} from './crawl-to-end.ts';
import type { CrawlClient, RateLimitInfo } from './timeline-client.ts';

/** The user's request budget for one provider credential: `max` requests per `windowMs`. */
export interface RequestBudget {
  max: number;
  windowMs: number;
}

export interface RequestLimiterOptions extends RequestBudget {
  /** Added to a provider's reset: its header has whole seconds and the clocks may differ. */
  marginMs?: number | undefined;
  /** The longest hold for one provider reset. @defaultValue 16 minutes */
  maxHoldMs?: number | undefined;
  now?: (() => number) | undefined;
  sleep?: Sleep | undefined;
  /**
   * The workers' limiter (their BullMQ limiter in Redis), so that this process and the workers
   * draw on one budget: every request is also taken from it, and a hold for the provider's
   * reset is set on it too.
   */
  shared?: SharedRequestLimiter | undefined;
  /** Called when a request has to wait (the budget is spent, or the provider said to). */
  onWait?: ((waitMs: number, why: LimiterWait) => void) | undefined;
}

/** Why a request waits: this process's budget, the one shared with the workers, a reset. */
export type LimiterWait = 'budget' | 'shared' | 'provider';

/** A limiter other processes take from too (see `@birdfeed/jobs` openSharedLimiter). */
export interface SharedRequestLimiter {
  /** 0 when one request was taken; otherwise the ms to wait before asking again. */
  take(): Promise<number>;
  hold(ms: number): Promise<void>;
}

/**
 * The one-shot mode's limiter, in-process: the worker's BullMQ limiter without Redis. A fixed
 * window like BullMQ's: it opens at the first request, lets `max` requests start and ends
 * `windowMs` later. A response that says the provider's window is spent (remaining 0), or a
 * 429, holds every request until the provider's reset; and, as the worker does, the open
 * window lasts at least until the provider's reset, so it never rolls over into a provider
 * window that is still spent.
 */
export class RequestLimiter {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #marginMs: number;
  readonly #maxHoldMs: number;
  readonly #now: () => number;
  readonly #sleep: Sleep;
  readonly #onWait: RequestLimiterOptions['onWait'];
  readonly #shared: SharedRequestLimiter | undefined;
  #windowEnd = 0;
  #used = 0;
  #heldUntil = 0;
  /** Requests wait their turn one after another, so concurrent lanes never overdraw. */
  #turn: Promise<void> = Promise.resolve();

  constructor(options: RequestLimiterOptions) {
    this.#max = options.max;
    this.#windowMs = options.windowMs;
    this.#marginMs = options.marginMs ?? 250;
    this.#maxHoldMs = options.maxHoldMs ?? MAX_RATE_LIMIT_WAIT_MS;
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? defaultSleep;
    this.#onWait = options.onWait;
    this.#shared = options.shared;
  }

  /** Resolves when one more request may start; rejects when `signal` fires first. */
  acquire(signal?: AbortSignal): Promise<void> {
    const turn = this.#turn.then(() => this.#take(signal));
    this.#turn = turn.catch(() => {});
    return turn;
  }

  async #take(signal: AbortSignal | undefined): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      const now = this.#now();
      if (this.#heldUntil > now) {
        const wait = this.#heldUntil - now;
        this.#onWait?.(wait, 'provider');
        await this.#sleep(wait, signal);
        continue;
      }
      if (now >= this.#windowEnd) {
        this.#windowEnd = now + this.#windowMs;
        this.#used = 0;
      }
      if (this.#used >= this.#max) {
        const wait = this.#windowEnd - now;
        this.#onWait?.(wait, 'budget');
        await this.#sleep(wait, signal);
        continue;
      }
      if (this.#shared !== undefined) {
        const wait = await takeShared(this.#shared, signal);
        if (wait > 0) {
          // A hold longer than the longest provider reset is asked about again after that.
          const capped = Math.min(wait, this.#maxHoldMs);
          this.#onWait?.(capped, 'shared');
          await this.#sleep(capped, signal);
          continue;
        }
      }
      this.#used += 1;
      return;
    }
  }

  /** No request starts before `resetAt` (plus the margin, at most the longest hold). */
  holdUntil(resetAt: Date): void {
    const now = this.#now();
    const until = now + rateLimitWaitMs(resetAt, now, this.#maxHoldMs) + this.#marginMs;
    this.#heldUntil = Math.max(this.#heldUntil, Math.min(until, now + this.#maxHoldMs));
    // The workers stop too (they would spend their next requests on 429s); a Redis that fails
    // here costs them that, not this process its crawl.
    this.#shared?.hold(this.#heldUntil - now).catch(() => {});
  }

  /** What a response said about the provider's window. */
  observe(rateLimit: RateLimitInfo | null | undefined): void {
    if (rateLimit === null || rateLimit === undefined) return;
    if (rateLimit.remaining <= 0) {
      this.holdUntil(rateLimit.resetAt);
      return;
    }
    const now = this.#now();
    const reset = rateLimit.resetAt.getTime() + this.#marginMs;
    if (Number.isFinite(reset) && this.#windowEnd > now && this.#windowEnd < reset) {
      this.#windowEnd = Math.min(reset, now + this.#windowMs);
    }
  }
}

/**
 * `client` with every request taken from `limiter` first, and every response's rate-limit
 * headers (a 429's reset, an error response's window too) told to it.
 */
export function limitedClient(client: CrawlClient, limiter: RequestLimiter): CrawlClient {
  return {
    provider: client.provider,
    fetchTimelinePage: async (request) => {
      await limiter.acquire(request.signal);
      try {
        const page = await client.fetchTimelinePage(request);
        limiter.observe(page.rateLimit);
        return page;
      } catch (error) {
        // A 5xx or 4xx carries the window's headers too: one that says it is spent holds
        // like a page that does (the retry after a 503 would otherwise meet a 429).
        if (error instanceof RateLimitedError) limiter.holdUntil(error.resetAt);
        else limiter.observe(rateLimitOf(error));
        throw error;
      }
    },
  };
}

/**
 * One request from the workers' limiter in Redis; a Ctrl-C does not wait for Redis to answer,
 * and a Redis that fails says it was the limiter's.
 */
async function takeShared(
  shared: SharedRequestLimiter,
  signal: AbortSignal | undefined,
): Promise<number> {
  signal?.throwIfAborted();
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([
      shared.take().catch((error: unknown) => {
        const reason = error instanceof Error ? error.message : String(error);
        throw new Error(`could not take a request from the workers' limiter in Redis: ${reason}`, {
          cause: error,
        });
      }),
      aborted,
    ]);
  } finally {
    if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
  }
}
