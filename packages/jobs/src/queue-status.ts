import type { ProviderName } from '@birdfeed/model';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { DEFAULT_QUEUE_PREFIX, pauseReasonKey, queueRegistryKey } from './crawl-queue.ts';
import { parseCrawlQueueName } from './queue-names.ts';

export interface LimiterStatus {
  /**
   * Requests allowed per window (the queue's global rate limit); null = none recorded in Redis.
   * Each worker writes it into the queue's meta when it starts, so a Redis that lost its keys
   * shows null until a worker starts again, while running workers still apply their own.
   */
  max: number | null;
  windowMs: number | null;
  /** Requests started in the current window. */
  used: number;
  /** Requests still allowed in the current window; null without a limiter. */
  remaining: number | null;
  /** Until the window (or a 429 pause) ends; 0 = no window open. */
  resetsInMs: number;
  /** True while a 429 (or a `remaining: 0` header) holds the queue until the provider's reset. */
  rateLimited: boolean;
}

export interface QueueStatus {
  name: string;
  provider: ProviderName;
  credentialLabel: string;
  /** Jobs waiting to run (plain and prioritized). */
  waiting: number;
  active: number;
  /** Retries waiting for their backoff, and delayed starts. */
  delayed: number;
  failed: number;
  completed: number;
  paused: boolean;
  /** Why birdfeed paused it (401/403, out of credits); null when not paused by birdfeed. */
  pauseReason: string | null;
  limiter: LimiterStatus;
  /**
   * Workers connected to the queue now (BullMQ names each worker's blocking connection after
   * its queue, under the prefix); null when this Redis does not list its clients (CLIENT LIST
   * refused, as on some managed services).
   */
  workers: number | null;
  /** Jobs are waiting and no worker is connected: nothing will run them until one starts. */
  waitingWithoutWorker: boolean;
}

export interface QueueStatusOptions {
  connection: Redis;
  /** @defaultValue 'birdfeed' */
  prefix?: string;
}

/** BullMQ marks a queue it rate-limits by hand by setting the limiter counter this high. */
const MANUAL_LIMIT_THRESHOLD = Number.MAX_SAFE_INTEGER;

async function listCrawlQueueNames(connection: Redis, prefix: string): Promise<string[]> {
  const names = new Set(await connection.smembers(queueRegistryKey(prefix)));
  // Queues created by an older birdfeed or by hand are found by their meta key.
  let cursor = '0';
  do {
    const [next, keys] = await connection.scan(
      cursor,
      'MATCH',
      `${prefix}:crawl.*:meta`,
      'COUNT',
      500,
    );
    cursor = next;
    for (const key of keys) names.add(key.slice(prefix.length + 1, -':meta'.length));
  } while (cursor !== '0');
  return [...names].filter((name) => parseCrawlQueueName(name) !== null).sort();
}

/**
 * The queue's connected workers, from CLIENT LIST (Queue#getWorkers). Null when Redis refuses
 * the command: BullMQ then returns one placeholder entry (no `rawname`) for managed services
 * without CLIENT LIST, and an ACL without +client answers NOPERM; neither says "no worker".
 */
async function connectedWorkers(queue: Queue): Promise<number | null> {
  try {
    const clients = await queue.getWorkers();
    return clients.some((client) => client.rawname === undefined) ? null : clients.length;
  } catch (error) {
    if (error instanceof Error && error.name === 'ReplyError') return null;
    throw error;
  }
}

/**
 * Depth, paused state, connected workers and the rate-limit budget left of every crawl queue
 * under `prefix`.
 */
export async function queueStatus(options: QueueStatusOptions): Promise<QueueStatus[]> {
  const prefix = options.prefix ?? DEFAULT_QUEUE_PREFIX;
  const names = await listCrawlQueueNames(options.connection, prefix);
  const statuses: QueueStatus[] = [];
  for (const name of names) {
    const ref = parseCrawlQueueName(name);
    if (ref === null) continue;
    const queue = new Queue(name, { connection: options.connection, prefix });
    try {
      const counts = await queue.getJobCounts(
        'waiting',
        'prioritized',
        'active',
        'delayed',
        'failed',
        'completed',
      );
      const paused = await queue.isPaused();
      const limit = await queue.getGlobalRateLimit();
      const workers = await connectedWorkers(queue);
      const limiterKey = `${prefix}:${name}:limiter`;
      const [usedRaw, pttl] = await Promise.all([
        options.connection.get(limiterKey),
        options.connection.pttl(limiterKey),
      ]);
      const used = usedRaw === null ? 0 : Number(usedRaw);
      const rateLimited = used >= MANUAL_LIMIT_THRESHOLD;
      const windowOpen = pttl > 0;
      const usedInWindow = windowOpen ? used : 0;
      const waiting = (counts.waiting ?? 0) + (counts.prioritized ?? 0) + (counts.paused ?? 0);
      statuses.push({
        name,
        provider: ref.provider,
        credentialLabel: ref.credentialLabel,
        waiting,
        active: counts.active ?? 0,
        delayed: counts.delayed ?? 0,
        failed: counts.failed ?? 0,
        completed: counts.completed ?? 0,
        paused,
        pauseReason: paused ? await options.connection.get(pauseReasonKey(prefix, name)) : null,
        limiter: {
          max: limit?.max ?? null,
          windowMs: limit?.duration ?? null,
          used: rateLimited ? (limit?.max ?? 0) : usedInWindow,
          remaining:
            limit === null ? null : rateLimited ? 0 : Math.max(0, limit.max - usedInWindow),
          resetsInMs: windowOpen ? pttl : 0,
          rateLimited: rateLimited && windowOpen,
        },
        workers,
        waitingWithoutWorker: workers === 0 && waiting > 0,
      });
    } finally {
      await queue.close();
    }
  }
  return statuses;
}
