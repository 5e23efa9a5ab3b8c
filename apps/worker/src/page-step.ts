import type { CrawlPagePayload } from '@birdfeed/jobs';
import type { Logger } from 'pino';

/**
 * The seam between the transport (this app) and the crawl step (packages/crawl). The worker
 * knows nothing about checkpoints or upserts: it hands a page job to a PageStep and learns
 * whether the run goes on. Tests can drive the whole BullMQ policy with a scripted step.
 */
export interface PageStepContext {
  jobId: string;
  /** 1 on the first try; counts retries after failures (not 429 re-runs). */
  attempt: number;
  /** Fires at the per-job deadline, and when BullMQ cancels the job. */
  signal: AbortSignal;
  /** Bound to the job and its page; the step names the target (provider, user, run) itself. */
  logger: Logger;
  /**
   * Told the window of each provider response the step sees: a step that then fails (its page
   * could not be written) still holds the queue on what that response said.
   */
  observeRateLimit?: ((rateLimit: PageRateLimit | null) => void) | undefined;
}

export interface PageRateLimit {
  limit: number;
  remaining: number;
  resetAt: Date;
}

export interface PageStepResult {
  /** True: the run has another page; the worker enqueues page + 1 of the same run. */
  next: boolean;
  /** The provider's rate-limit headers from this page, so the queue can stop before a 429. */
  rateLimit?: PageRateLimit | null | undefined;
  /** For logs and metrics only. */
  tweetsNew?: number | undefined;
  tweetsUpdated?: number | undefined;
}

export type PageStep = (
  payload: CrawlPagePayload,
  context: PageStepContext,
) => Promise<PageStepResult>;

export interface FinalFailure {
  /** Null when the payload itself was invalid (nothing to attribute the failure to). */
  payload: CrawlPagePayload | null;
  jobId: string;
  /** Attempts made, counting this one. */
  attempts: number;
  /** The provider's error when there was one (not BullMQ's wrapper). */
  error: Error;
}

/** Records a job that will not be retried again (crawl_failures) and closes its run. */
export type FinalFailureHandler = (failure: FinalFailure) => Promise<void>;
