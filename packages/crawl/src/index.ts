export type {
  CrawlOnceOptions,
  CrawlOnceResult,
  SkippedTargets,
} from './crawl-once.ts';
export { crawlOnce } from './crawl-once.ts';
export type {
  CrawlGapFound,
  CrawlPageOptions,
  CrawlStepOutcome,
  CrawlStepResult,
} from './crawl-page.ts';
export {
  crawlPage,
  EMPTY_GIVEUPS_BEFORE_FAILING,
  EMPTY_PAGES_BEFORE_END,
  MAX_WINDOW_PAGES,
  openRun,
  X_TIMELINE_CAP,
} from './crawl-page.ts';
export type {
  CrawlToEndOptions,
  RetryPolicy,
  Sleep,
  TargetCrawlOutcome,
  TargetCrawlSummary,
} from './crawl-to-end.ts';
export {
  crawlTargetToEnd,
  defaultSleep,
  MAX_RATE_LIMIT_WAIT_MS,
  rateLimitWaitMs,
} from './crawl-to-end.ts';
export {
  BilledPageFailedError,
  describeError,
  ProviderMismatchError,
  RunMismatchError,
  StaleCheckpointError,
  TargetNotFoundError,
} from './errors.ts';
export {
  durationUnitProblem,
  formatEvery,
  IntervalFormatError,
  MAX_INTERVAL_SECONDS,
  MIN_INTERVAL_SECONDS,
  parseEvery,
} from './every.ts';
export type { CrawlLogger } from './logger.ts';
export { silentLogger } from './logger.ts';
export { MigrationsMissingError, openCrawlDatabase } from './open-crawl-database.ts';
export type { RecordedJobFailure, RecordJobFailureInput } from './record-job-failure.ts';
export { recordJobFailure } from './record-job-failure.ts';
export type {
  LimiterWait,
  RequestBudget,
  RequestLimiterOptions,
  SharedRequestLimiter,
} from './request-limiter.ts';
export { limitedClient, RequestLimiter } from './request-limiter.ts';
export type {
  CrawlClient,
  FetchedPage,
  RateLimitInfo,
  TimelinePageRequest,
} from './timeline-client.ts';
