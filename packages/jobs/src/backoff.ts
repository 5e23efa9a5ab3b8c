import type { BackoffStrategy } from 'bullmq';

/**
 * The retry delay of a failed page (5xx, timeout, connection reset): exponential, capped, with
 * "equal jitter" (half fixed, half random) so a provider outage that fails every in-flight job
 * at once does not bring them all back at the same instant. BullMQ's built-in exponential
 * strategy has no cap, which after eight attempts would mean minutes for no reason.
 */
export const CRAWL_BACKOFF_TYPE = 'crawl-exponential-jitter';

export interface CrawlBackoffOptions {
  /** @defaultValue 1000 (overridden by the job's own `backoff.delay`) */
  baseMs?: number;
  /** @defaultValue 300000 (5 minutes) */
  capMs?: number;
  /** @defaultValue Math.random */
  random?: () => number;
}

export function crawlBackoffDelay(attemptsMade: number, options: CrawlBackoffOptions = {}): number {
  const base = options.baseMs ?? 1_000;
  const cap = options.capMs ?? 300_000;
  const random = options.random ?? Math.random;
  const ceiling = Math.min(cap, base * 2 ** Math.max(0, attemptsMade - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/**
 * The worker's `settings.backoffStrategy`. The worker's own `baseMs` (an operator setting)
 * wins over the delay the producer wrote into the job; unknown types get a fixed base delay.
 */
export function createBackoffStrategy(options: CrawlBackoffOptions = {}): BackoffStrategy {
  return (attemptsMade, type, _err, job) => {
    const configured = job?.opts.backoff;
    const baseMs =
      options.baseMs ??
      (typeof configured === 'object' && configured.delay !== undefined ? configured.delay : 1_000);
    if (type === CRAWL_BACKOFF_TYPE) {
      return crawlBackoffDelay(attemptsMade, { ...options, baseMs });
    }
    return baseMs;
  };
}
