import { type CrawlRun, getCheckpoint, getRun, type TargetKey } from '@birdfeed/db';
import { RateLimitedError, TransientError } from '@birdfeed/providers';
import {
  type CrawlGapFound,
  type CrawlPageOptions,
  type CrawlStepResult,
  crawlPage,
  openRun,
} from './crawl-page.ts';
import { describeError } from './errors.ts';
import { silentLogger } from './logger.ts';
import { recordJobFailure } from './record-job-failure.ts';

/** How the in-process loop (the one-shot mode) retries; BullMQ has its own policy. */
export interface RetryPolicy {
  /** Attempts of one page on 5xx/timeouts before the target fails. @defaultValue 5 */
  maxAttempts?: number | undefined;
  /** First backoff delay; doubles per attempt, with jitter. @defaultValue 500 */
  baseDelayMs?: number | undefined;
  /** @defaultValue 30000 */
  maxDelayMs?: number | undefined;
  /** 429s slept through before the target fails (a provider stuck in 429s). @defaultValue 20 */
  maxRateLimitWaits?: number | undefined;
  /** Longest single sleep for a 429's reset. @defaultValue 960000 (16 minutes) */
  maxRateLimitWaitMs?: number | undefined;
}

export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/** The longest single sleep for a 429's reset, by default (X's window is 15 minutes). */
export const MAX_RATE_LIMIT_WAIT_MS = 16 * 60_000;

/**
 * How long to sleep for a 429 that lifts at `resetAt`: until then plus 100 ms, at most `maxMs`,
 * a minute (or `maxMs`) when the reset is not a valid date. Never NaN nor past setTimeout's
 * 2^31 − 1 ms, either of which fires the timer after 1 ms and asks again at once.
 */
export function rateLimitWaitMs(
  resetAt: Date,
  nowMs: number,
  maxMs: number = MAX_RATE_LIMIT_WAIT_MS,
): number {
  const until = resetAt.getTime() - nowMs;
  const wait = Number.isFinite(until) ? Math.max(0, until) + 100 : 60_000;
  return Math.min(wait, maxMs);
}

export const defaultSleep: Sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

export interface CrawlToEndOptions extends Omit<CrawlPageOptions, 'runId'> {
  retry?: RetryPolicy | undefined;
  sleep?: Sleep | undefined;
  /** A safety stop for a provider that never ends a window. @defaultValue 2000 */
  maxPages?: number | undefined;
  /** Called after every step (progress output). */
  onStep?: ((step: CrawlStepResult) => void) | undefined;
  /**
   * The run to drive, already opened by the caller (the one-shot opens it with its busy check);
   * omitted = the target's running run or a new one, whatever its activity.
   */
  run?: CrawlRun | undefined;
}

export type TargetCrawlOutcome = 'succeeded' | 'failed' | 'unavailable' | 'cancelled';

export interface TargetCrawlSummary extends TargetKey {
  outcome: TargetCrawlOutcome;
  runId: string | null;
  kind: 'backfill' | 'incremental' | null;
  pages: number;
  requests: number;
  /** New or changed rows of the tweets table (embedded tweets included). */
  tweetsNew: number;
  tweetsUpdated: number;
  /** The provider's own results (timeline tweets) read, over all pages. */
  timelineTweets: number;
  costCents: number;
  sinceId: string | null;
  gaps: CrawlGapFound[];
  /**
   * The run gave its window up on empty pages before it listed a tweet (see crawlPage's
   * `emptyGiveUp`): it still succeeded, and `error` carries the run's note saying so.
   */
  emptyGiveUp: { inARow: number; failing: string | null } | null;
  cursorRestarts: number;
  retries: number;
  rateLimitWaits: number;
  /** Why the run failed or was cancelled; on a succeeded run, what it gave up on (its note). */
  error: string | null;
  errorName: string | null;
}

export function emptySummary(key: TargetKey): TargetCrawlSummary {
  return {
    provider: key.provider,
    userId: key.userId,
    outcome: 'failed',
    runId: null,
    kind: null,
    pages: 0,
    requests: 0,
    tweetsNew: 0,
    tweetsUpdated: 0,
    timelineTweets: 0,
    costCents: 0,
    sinceId: null,
    gaps: [],
    emptyGiveUp: null,
    cursorRestarts: 0,
    retries: 0,
    rateLimitWaits: 0,
    error: null,
    errorName: null,
  };
}

/**
 * Runs the crawl step in-process until the target's window is complete: the one-shot mode's
 * loop, with no Redis. 5xx/timeouts are retried with exponential backoff and jitter, a 429 is
 * slept through until its reset; anything else fails the target, on record in crawl_failures.
 */
export async function crawlTargetToEnd(options: CrawlToEndOptions): Promise<TargetCrawlSummary> {
  const { db } = options;
  const key: TargetKey = { provider: options.target.provider, userId: options.target.userId };
  const logger = options.logger ?? silentLogger;
  const sleep = options.sleep ?? defaultSleep;
  const now = options.now ?? (() => new Date());
  const retry = {
    maxAttempts: options.retry?.maxAttempts ?? 5,
    baseDelayMs: options.retry?.baseDelayMs ?? 500,
    maxDelayMs: options.retry?.maxDelayMs ?? 30_000,
    maxRateLimitWaits: options.retry?.maxRateLimitWaits ?? 20,
    maxRateLimitWaitMs: options.retry?.maxRateLimitWaitMs ?? MAX_RATE_LIMIT_WAIT_MS,
  };
  const maxPages = options.maxPages ?? 2000;
  const summary = emptySummary(key);
  const run = options.run ?? (await openRun(db, key));
  // What the target already had: a run that fails (or writes no page) leaves it where it was,
  // and the summary must say so rather than "no since_id".
  summary.sinceId = (await getCheckpoint(db, key))?.sinceId ?? null;
  summary.runId = run.id;
  summary.kind = run.kind;
  let failures = 0;
  for (;;) {
    let step: CrawlStepResult;
    try {
      step = await crawlPage({ ...options, target: key, runId: run.id });
      failures = 0;
    } catch (error) {
      const interrupted = options.signal?.aborted === true;
      if (
        !interrupted &&
        error instanceof RateLimitedError &&
        summary.rateLimitWaits < retry.maxRateLimitWaits
      ) {
        summary.rateLimitWaits += 1;
        const wait = rateLimitWaitMs(error.resetAt, now().getTime(), retry.maxRateLimitWaitMs);
        logger.warn({ ...key, waitMs: wait }, 'crawl: rate limited, sleeping until the reset');
        if (await sleepOrAbort(sleep, wait, options.signal)) continue;
        return failRun(summary, db, key, run.id, failures + 1, new Error('interrupted'));
      }
      if (!interrupted && error instanceof TransientError && failures + 1 < retry.maxAttempts) {
        failures += 1;
        summary.retries += 1;
        const ceiling = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (failures - 1));
        const wait = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
        logger.warn(
          { ...key, attempt: failures, waitMs: wait, error: describeError(error).message },
          'crawl: transient failure, retrying',
        );
        if (await sleepOrAbort(sleep, wait, options.signal)) continue;
        return failRun(summary, db, key, run.id, failures + 1, new Error('interrupted'));
      }
      logger.error({ ...key, runId: run.id, error: describeError(error) }, 'crawl: target failed');
      return failRun(
        summary,
        db,
        key,
        run.id,
        failures + 1,
        interrupted ? new Error('interrupted') : error,
      );
    }
    summary.pages += step.pages;
    summary.requests += step.requests;
    summary.tweetsNew += step.tweetsNew;
    summary.tweetsUpdated += step.tweetsUpdated;
    summary.timelineTweets += step.timelineTweets;
    summary.costCents += step.costCents;
    summary.sinceId = step.sinceId;
    summary.kind = step.kind;
    if (step.gap !== null) summary.gaps.push(step.gap);
    if (step.emptyGiveUp !== null) summary.emptyGiveUp = step.emptyGiveUp;
    if (step.outcome === 'cursor_expired') summary.cursorRestarts += 1;
    options.onStep?.(step);
    if (step.next === 'done') {
      const finished = await getRun(db, run.id);
      const outcome = finished?.outcome ?? 'failed';
      if (outcome === 'running') {
        // A stale step: another process moved this target's checkpoint and drives the run.
        return {
          ...summary,
          outcome: 'failed',
          error: 'another process is crawling this target',
          errorName: 'StaleCheckpointError',
        };
      }
      return { ...summary, outcome, error: finished?.error ?? null };
    }
    if (summary.pages + summary.cursorRestarts >= maxPages) {
      const error = new Error(`the window did not end after ${maxPages} pages; stopped`);
      return failRun(summary, db, key, run.id, 1, error);
    }
    if (options.signal?.aborted === true) {
      // Between pages: the checkpoint holds the cursor, the next run resumes from it.
      return failRun(summary, db, key, run.id, 1, new Error('interrupted'));
    }
  }
}

/** Sleeps; false when the signal fired first (a shutdown), instead of throwing. */
async function sleepOrAbort(sleep: Sleep, ms: number, signal: AbortSignal | undefined) {
  try {
    await sleep(ms, signal);
    return signal?.aborted !== true;
  } catch (error) {
    if (signal?.aborted === true) return false;
    throw error;
  }
}

async function failRun(
  summary: TargetCrawlSummary,
  db: CrawlToEndOptions['db'],
  key: TargetKey,
  runId: string,
  attempt: number,
  error: unknown,
): Promise<TargetCrawlSummary> {
  const described = describeError(error);
  await recordJobFailure(db, { ...key, runId, attempt, error });
  return { ...summary, outcome: 'failed', error: described.message, errorName: described.name };
}
