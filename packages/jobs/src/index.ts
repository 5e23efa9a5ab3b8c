export {
  CRAWL_BACKOFF_TYPE,
  type CrawlBackoffOptions,
  crawlBackoffDelay,
  createBackoffStrategy,
} from './backoff.ts';
export {
  type CrawlQueue,
  type CrawlQueueOptions,
  crawlJobPriority,
  DEFAULT_QUEUE_PREFIX,
  type EnqueueCrawlPageOptions,
  type EnqueueResult,
  enqueueFirstPage,
  enqueueNextPage,
  openCrawlQueue,
  openQueuedRunProbe,
  pauseReasonKey,
  type QueuedRunProbe,
  type QueuedRunProbeOptions,
  queueRegistryKey,
} from './crawl-queue.ts';
export {
  type CrawlPagePayload,
  crawlPagePayloadSchema,
  isJobName,
  JOB_NAMES,
  type JobDefinition,
  type JobName,
  type JobPayload,
  jobCatalog,
  parseJob,
  validatePayload,
} from './job-catalog.ts';
export {
  assertCredentialLabel,
  type CrawlQueueRef,
  crawlPageJobId,
  crawlQueueName,
  DEFAULT_CREDENTIAL_LABEL,
  parseCrawlQueueName,
  QueueNameError,
  targetDeduplicationId,
} from './queue-names.ts';
export {
  type LimiterStatus,
  type QueueStatus,
  type QueueStatusOptions,
  queueStatus,
} from './queue-status.ts';
export {
  assertNoEviction,
  checkEvictionPolicy,
  createRedisConnection,
  type EvictionCheck,
  probeRedis,
  REQUIRED_EVICTION_POLICY,
  type RedisConnectionOptions,
  RedisPolicyError,
  RedisUnavailableError,
  readEvictionPolicy,
  redactRedisUrl,
  redactUrl,
  verifyRedis,
} from './redis-connection.ts';
export {
  isRedisConnectionError,
  OutageLog,
  type OutageLogger,
  RedisOutageLog,
} from './redis-outage.ts';
export {
  openSharedLimiter,
  type SharedLimiter,
  type SharedLimiterOptions,
} from './shared-limiter.ts';
