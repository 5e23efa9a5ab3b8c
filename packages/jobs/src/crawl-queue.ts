import type { ProviderName } from '@birdfeed/model';
import { type JobsOptions, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { type CrawlPagePayload, jobCatalog, validatePayload } from './job-catalog.ts';
import {
  crawlPageJobId,
  crawlQueueName,
  DEFAULT_CREDENTIAL_LABEL,
  targetDeduplicationId,
} from './queue-names.ts';

export type CrawlQueue = Queue<CrawlPagePayload, unknown, 'crawl-page'>;

export interface CrawlQueueOptions {
  connection: Redis;
  /**
   * Key prefix of every queue key, so several deployments (or tests) share one Redis.
   * @defaultValue 'birdfeed'
   */
  prefix?: string;
  provider: ProviderName;
  /** @defaultValue 'default' */
  credentialLabel?: string;
}

export const DEFAULT_QUEUE_PREFIX = 'birdfeed';

/** A set of every crawl queue name ever opened under a prefix, so `status` can list them. */
export function queueRegistryKey(prefix: string): string {
  return `${prefix}:birdfeed:queues`;
}

/** Why birdfeed paused a queue (401/403, out of credits), shown by `birdfeed status`. */
export function pauseReasonKey(prefix: string, queueName: string): string {
  return `${prefix}:${queueName}:bf-pause-reason`;
}

export async function openCrawlQueue(options: CrawlQueueOptions): Promise<CrawlQueue> {
  const prefix = options.prefix ?? DEFAULT_QUEUE_PREFIX;
  const name = crawlQueueName(
    options.provider,
    options.credentialLabel ?? DEFAULT_CREDENTIAL_LABEL,
  );
  await options.connection.sadd(queueRegistryKey(prefix), name);
  return new Queue<CrawlPagePayload, unknown, 'crawl-page'>(name, {
    connection: options.connection,
    prefix,
  });
}

/**
 * Job priority: BullMQ runs smaller numbers first. Incremental runs keep the watchlist fresh
 * and are cheap, so they go before backfills; inside each band the target's own priority
 * (higher = sooner) orders them.
 */
export function crawlJobPriority(kind: CrawlPagePayload['kind'], targetPriority = 0): number {
  const band = kind === 'incremental' ? 1_000 : 3_000;
  const shift = Math.max(-999, Math.min(999, Math.trunc(targetPriority)));
  return band - shift;
}

export interface EnqueueCrawlPageOptions {
  /** @defaultValue crawlJobPriority(payload.kind) */
  priority?: number;
  /** Start no earlier than this many ms from now. */
  delayMs?: number;
  /** Override the catalog's retry policy (tests, operators). */
  attempts?: number;
  backoffDelayMs?: number;
}

export interface EnqueueResult {
  jobId: string;
  /** False when the target already had a run in flight and nothing was added. */
  added: boolean;
}

function pageJobOptions(
  payload: CrawlPagePayload,
  options: EnqueueCrawlPageOptions,
  keepLastIfActive: boolean,
): JobsOptions {
  const definition = jobCatalog['crawl-page'];
  return {
    jobId: crawlPageJobId(payload.provider, payload.userId, payload.runId, payload.page),
    deduplication: {
      id: targetDeduplicationId(payload.provider, payload.userId),
      ...(keepLastIfActive ? { keepLastIfActive: true } : {}),
    },
    priority: options.priority ?? crawlJobPriority(payload.kind),
    attempts: options.attempts ?? definition.attempts,
    backoff: {
      type: definition.backoff.type,
      delay: options.backoffDelayMs ?? definition.backoff.delay,
    },
    ...(options.delayMs !== undefined && options.delayMs > 0 ? { delay: options.delayMs } : {}),
    // Finished jobs are history only; crawl_runs and crawl_failures keep the durable record.
    removeOnComplete: { age: 3_600, count: 1_000 },
    removeOnFail: { age: 7 * 24 * 3_600, count: 10_000 },
  };
}

/**
 * The first page of a run, from the scheduler. The job carries the target's deduplication id,
 * and so does every later page job of the run, so while any page of the run is waiting,
 * active or delayed for a retry, this add is a no-op: a target never has two runs in flight.
 */
export async function enqueueFirstPage(
  queue: CrawlQueue,
  payload: CrawlPagePayload,
  options: EnqueueCrawlPageOptions = {},
): Promise<EnqueueResult> {
  const valid = validatePayload('crawl-page', payload);
  const jobId = crawlPageJobId(valid.provider, valid.userId, valid.runId, valid.page);
  const job = await queue.add('crawl-page', valid, pageJobOptions(valid, options, false));
  return { jobId, added: job.id === jobId };
}

/**
 * The next page of a run, added by the worker from inside the current page's job. The current
 * job still holds the deduplication key, so it is added with `keepLastIfActive`: BullMQ keeps
 * it aside and creates it the moment the current job completes, handing the key over to it.
 * There is never a moment when the target has no job holding the key, so the scheduler cannot
 * slip a second run in between two pages.
 */
export async function enqueueNextPage(
  queue: CrawlQueue,
  payload: CrawlPagePayload,
  options: EnqueueCrawlPageOptions = {},
): Promise<EnqueueResult> {
  const valid = validatePayload('crawl-page', payload);
  const jobId = crawlPageJobId(valid.provider, valid.userId, valid.runId, valid.page);
  await queue.add('crawl-page', valid, pageJobOptions(valid, options, true));
  return { jobId, added: true };
}

export interface QueuedRunProbeOptions {
  connection: Redis;
  /** @defaultValue 'birdfeed' */
  prefix?: string;
  /** The credential label of each provider's queue. @defaultValue 'default' */
  credentialLabels?: Partial<Record<ProviderName, string>>;
}

export interface QueuedRunProbe {
  /**
   * The id of the job that holds the target's deduplication id (a page of its run waiting,
   * active or delayed for a retry in the workers' queue), or null when there is none.
   */
  jobIdOf(provider: ProviderName, userId: string): Promise<string | null>;
  close(): Promise<void>;
}

/**
 * Asks the workers' queues whether a target's run is in flight there, for a process that does
 * not work the queues (`crawl --once`) and must leave such a run to the workers. Read-only: the
 * queues are not registered and their meta is not written.
 */
export function openQueuedRunProbe(options: QueuedRunProbeOptions): QueuedRunProbe {
  const prefix = options.prefix ?? DEFAULT_QUEUE_PREFIX;
  const queues = new Map<ProviderName, CrawlQueue>();
  const queueOf = (provider: ProviderName): CrawlQueue => {
    let queue = queues.get(provider);
    if (queue === undefined) {
      const name = crawlQueueName(
        provider,
        options.credentialLabels?.[provider] ?? DEFAULT_CREDENTIAL_LABEL,
      );
      queue = new Queue<CrawlPagePayload, unknown, 'crawl-page'>(name, {
        connection: options.connection,
        prefix,
        skipMetasUpdate: true,
      });
      queues.set(provider, queue);
    }
    return queue;
  };
  return {
    jobIdOf: (provider, userId) =>
      queueOf(provider).getDeduplicationJobId(targetDeduplicationId(provider, userId)),
    close: async () => {
      await Promise.allSettled([...queues.values()].map((queue) => queue.close()));
    },
  };
}
