import type { ProviderName } from '@birdfeed/model';
import type { Redis } from 'ioredis';
import { DEFAULT_QUEUE_PREFIX } from './crawl-queue.ts';
import { crawlQueueName, DEFAULT_CREDENTIAL_LABEL } from './queue-names.ts';

/**
 * Takes one request from the workers' BullMQ limiter, as a worker's job start does
 * (prepareJobForProcessing, getRateLimitTTL in BullMQ 5): the queue's global limit (meta `max`,
 * `duration`, set by the workers) or, before any worker set one, the caller's. Returns 0 when
 * taken, otherwise the ms until the window (or a hold) ends.
 */
const TAKE = `
local max = tonumber(redis.call('HGET', KEYS[2], 'max')) or tonumber(ARGV[1])
local duration = tonumber(redis.call('HGET', KEYS[2], 'duration')) or tonumber(ARGV[2])
local count = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if count >= max then
  local pttl = redis.call('PTTL', KEYS[1])
  if pttl == 0 then redis.call('DEL', KEYS[1]) end
  if pttl > 0 then return pttl end
end
if tonumber(redis.call('INCR', KEYS[1])) == 1 then
  redis.call('PEXPIRE', KEYS[1], math.floor(math.abs(duration)))
end
return 0
`;

/**
 * Holds the queue for ARGV[1] ms as BullMQ's Queue.rateLimit does (the counter set to "full"),
 * unless it is held at least that long already.
 */
const HOLD = `
local full = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if full >= 9007199254740991 and redis.call('PTTL', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], '9007199254740991', 'PX', ARGV[1])
return 1
`;

export interface SharedLimiterOptions {
  connection: Redis;
  /** @defaultValue 'birdfeed' */
  prefix?: string;
  provider: ProviderName;
  /** @defaultValue 'default' */
  credentialLabel?: string;
  /** The budget to use when no worker has set the queue's limit yet. */
  max: number;
  windowMs: number;
}

/**
 * The workers' limiter for a provider credential (`<prefix>:<queue>:limiter`), for a process
 * that makes requests outside the queue (`crawl --once`) and must share their budget.
 */
export interface SharedLimiter {
  /** 0 when one request was taken from the window; otherwise how long to wait, in ms. */
  take(): Promise<number>;
  /** Holds every worker (and this process) for `ms`, as a worker does on remaining 0. */
  hold(ms: number): Promise<void>;
  readonly key: string;
}

export function openSharedLimiter(options: SharedLimiterOptions): SharedLimiter {
  const prefix = options.prefix ?? DEFAULT_QUEUE_PREFIX;
  const queue = crawlQueueName(
    options.provider,
    options.credentialLabel ?? DEFAULT_CREDENTIAL_LABEL,
  );
  const key = `${prefix}:${queue}:limiter`;
  const meta = `${prefix}:${queue}:meta`;
  return {
    key,
    take: async () =>
      Number(
        await options.connection.eval(
          TAKE,
          2,
          key,
          meta,
          String(options.max),
          String(options.windowMs),
        ),
      ),
    hold: async (ms) => {
      const wanted = Math.ceil(ms);
      if (!(wanted > 0)) return;
      await options.connection.eval(HOLD, 1, key, String(wanted));
    },
  };
}
