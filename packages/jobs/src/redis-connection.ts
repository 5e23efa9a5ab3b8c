import { Redis } from 'ioredis';

/**
 * BullMQ keeps jobs, locks and the limiter counter as ordinary Redis keys. Under any eviction
 * policy but `noeviction`, a Redis under memory pressure silently deletes some of them: a job
 * vanishes, a lock disappears (the page runs twice), the limiter resets (the provider's budget
 * is overrun). So birdfeed refuses to run on such a Redis instead of losing work quietly.
 * https://docs.bullmq.io/guide/going-to-production#max-memory-policy
 */
export const REQUIRED_EVICTION_POLICY = 'noeviction';

export type EvictionCheck =
  | { ok: true; policy: string }
  | { ok: false; policy: string | null; reason: string };

/** Pure: decides on a `maxmemory-policy` value (null = Redis would not say). */
export function checkEvictionPolicy(policy: string | null | undefined): EvictionCheck {
  if (policy === null || policy === undefined || policy.trim() === '') {
    return {
      ok: false,
      policy: null,
      reason:
        'could not read maxmemory-policy (CONFIG GET and INFO memory both failed); birdfeed needs "noeviction" so Redis never drops queued jobs, locks or the rate limiter',
    };
  }
  const normalized = policy.trim().toLowerCase();
  if (normalized !== REQUIRED_EVICTION_POLICY) {
    return {
      ok: false,
      policy: normalized,
      reason: `Redis maxmemory-policy is "${normalized}", but birdfeed needs "noeviction": under memory pressure Redis would evict queued jobs, job locks and the rate-limiter counter (lost pages, doubled requests, a blown provider budget). Fix: CONFIG SET maxmemory-policy noeviction (and persist it in redis.conf)`,
    };
  }
  return { ok: true, policy: normalized };
}

export class RedisPolicyError extends Error {
  override readonly name = 'RedisPolicyError';
  readonly policy: string | null;

  constructor(check: Extract<EvictionCheck, { ok: false }>) {
    super(check.reason);
    this.policy = check.policy;
  }
}

/** Reads the policy; managed Redis often disables CONFIG, so INFO is the fallback. */
export async function readEvictionPolicy(redis: Redis): Promise<string | null> {
  try {
    const reply = (await redis.call('CONFIG', 'GET', 'maxmemory-policy')) as unknown;
    if (Array.isArray(reply) && typeof reply[1] === 'string') return reply[1];
  } catch {
    // CONFIG may be renamed or forbidden (ElastiCache, Upstash…); INFO below still answers.
  }
  try {
    const info = await redis.info('memory');
    const line = info.split(/\r?\n/).find((row) => row.startsWith('maxmemory_policy:'));
    return line === undefined ? null : line.slice('maxmemory_policy:'.length).trim();
  } catch {
    return null;
  }
}

export async function assertNoEviction(redis: Redis): Promise<string> {
  const check = checkEvictionPolicy(await readEvictionPolicy(redis));
  if (!check.ok) throw new RedisPolicyError(check);
  return check.policy;
}

export interface RedisConnectionOptions {
  url: string;
  /**
   * Workers hold blocking connections, for which BullMQ requires `maxRetriesPerRequest: null`
   * (retry forever across a Redis restart). Producers fail a command after a few retries, so
   * a scheduler tick reports a Redis outage instead of hanging.
   */
  role: 'worker' | 'producer';
  /** Shows in CLIENT LIST, which helps when several processes share one Redis. */
  connectionName?: string;
  /**
   * Connection errors (Redis restarting, unreachable). ioredis reconnects by itself; without a
   * listener it would print "Unhandled error event" for each attempt.
   */
  onError?: (error: Error) => void;
  /**
   * Fails a command with no reply after this long. A Redis that accepts and never answers (a
   * partition) otherwise holds a command until TCP gives up; not for a worker's blocking
   * connection (BullMQ's waits are long by design).
   */
  commandTimeoutMs?: number;
}

export function createRedisConnection(options: RedisConnectionOptions): Redis {
  const redis = new Redis(options.url, {
    maxRetriesPerRequest: options.role === 'worker' ? null : 3,
    enableReadyCheck: true,
    ...(options.connectionName === undefined ? {} : { connectionName: options.connectionName }),
    ...(options.commandTimeoutMs === undefined ? {} : { commandTimeout: options.commandTimeoutMs }),
  });
  redis.on('error', options.onError ?? (() => {}));
  return redis;
}

/** Query parameters that carry a secret in a connection URL (`?password=`, `sslpassword=`…). */
const SECRET_PARAMETER = /pass|secret|token|key/i;

/**
 * A connection URL (Postgres, Redis) without its secrets, for output, logs and error messages:
 * the password, and any query parameter whose name says it holds one (node-postgres reads
 * `?password=` as the password).
 */
export function redactUrl(url: string, name = 'URL'): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    for (const key of [...parsed.searchParams.keys()]) {
      if (SECRET_PARAMETER.test(key)) parsed.searchParams.set(key, '***');
    }
    return parsed.toString();
  } catch {
    return `(unparsable ${name})`;
  }
}

/** REDIS_URL without its secrets. */
export function redactRedisUrl(url: string): string {
  return redactUrl(url, 'REDIS_URL');
}

export class RedisUnavailableError extends Error {
  override readonly name = 'RedisUnavailableError';
}

/**
 * Connects on a throwaway connection that does not retry, and proves Redis answers: within
 * `timeoutMs` in all (ioredis' connectTimeout ends at the TCP handshake, and a server that
 * accepts and never replies — a wrong port, a proxy — would keep its ready check waiting
 * for ever), and on the database REDIS_URL names (ioredis reports a failed SELECT as an error
 * event and goes on with database 0, where another deployment's queues may be).
 */
export async function probeRedis<T>(
  url: string,
  use: (redis: Redis) => Promise<T>,
  timeoutMs = 5_000,
): Promise<T> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  redis.on('error', () => {});
  const unavailable = (reason: string) =>
    new RedisUnavailableError(`cannot reach Redis at ${redactRedisUrl(url)}: ${reason}`);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(unavailable(`no answer within ${timeoutMs / 1_000} s`)),
      timeoutMs,
    );
  });
  const check = async () => {
    try {
      await redis.connect();
    } catch (error) {
      throw unavailable(error instanceof Error ? error.message : String(error));
    }
    const db = redis.options.db ?? 0;
    if (db !== 0) {
      try {
        await redis.select(db);
      } catch (error) {
        throw new RedisUnavailableError(
          `REDIS_URL ${redactRedisUrl(url)} selects database ${db}, which this Redis refuses: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }
    return use(redis);
  };
  try {
    return await Promise.race([check(), deadline]);
  } finally {
    clearTimeout(timer);
    redis.disconnect();
  }
}

/**
 * The start-up check of a worker or scheduler: can Redis be reached (probeRedis), and does it
 * keep every key (noeviction)? A wrong REDIS_URL fails the start within `timeoutMs`.
 */
export async function verifyRedis(url: string, timeoutMs = 5_000): Promise<string> {
  return probeRedis(url, assertNoEviction, timeoutMs);
}
