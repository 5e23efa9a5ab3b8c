import { openCrawlQueue, openSharedLimiter, queueStatus } from '@birdfeed/jobs';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_REDIS_URL, testRedisPrefix } from './support/redis.ts';

/**
 * `crawl --once` next to running workers takes its requests from their BullMQ limiter
 * (`<prefix>:<queue>:limiter`), so the two together stay within the credential's budget: a
 * worker starts no job in a window the one-shot used up, and the other way round.
 */

let redis: Redis;
let workerConnection: Redis;
const prefixes: string[] = [];

beforeAll(() => {
  redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 3 });
  workerConnection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
});

afterAll(async () => {
  for (const prefix of prefixes) {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
  }
  workerConnection?.disconnect();
  redis?.disconnect();
});

function newPrefix(): string {
  const prefix = testRedisPrefix('shared-limiter');
  prefixes.push(prefix);
  return prefix;
}

describe('openSharedLimiter (the workers limiter, from outside the queue)', () => {
  it('takes from the window the workers count, with the limit they set', async () => {
    const prefix = newPrefix();
    const queue = await openCrawlQueue({ connection: redis, prefix, provider: 'x' });
    // The workers set 3 per minute; the one-shot's own budget (1500) does not override it.
    await queue.setGlobalRateLimit(3, 60_000);
    const limiter = openSharedLimiter({
      connection: redis,
      prefix,
      provider: 'x',
      max: 1500,
      windowMs: 900_000,
    });
    expect(limiter.key).toBe(`${prefix}:crawl.x.default:limiter`);
    expect([await limiter.take(), await limiter.take(), await limiter.take()]).toEqual([0, 0, 0]);
    const wait = await limiter.take();
    expect(wait).toBeGreaterThan(55_000);
    expect(wait).toBeLessThanOrEqual(60_000);
    const [status] = await queueStatus({ connection: redis, prefix });
    expect(status?.limiter).toMatchObject({ max: 3, used: 3, remaining: 0 });

    // A worker with the same limiter starts no job in the window the one-shot used up.
    await queue.add('crawl-page', {
      provider: 'x',
      userId: '1',
      runId: '1',
      kind: 'backfill',
      page: 0,
    });
    let processed = 0;
    const worker = new Worker(
      queue.name,
      async () => {
        processed += 1;
      },
      {
        connection: workerConnection,
        prefix,
        limiter: { max: 3, duration: 60_000 },
      },
    );
    try {
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(processed).toBe(0);
    } finally {
      await worker.close(true);
      await queue.close();
    }
  });

  it('before any worker set a limit, uses the budget it is given', async () => {
    const prefix = newPrefix();
    const limiter = openSharedLimiter({
      connection: redis,
      prefix,
      provider: 'agntdata',
      credentialLabel: 'team-b',
      max: 2,
      windowMs: 60_000,
    });
    expect(await limiter.take()).toBe(0);
    expect(await limiter.take()).toBe(0);
    expect(await limiter.take()).toBeGreaterThan(0);
    expect(await redis.pttl(`${prefix}:crawl.agntdata.team-b:limiter`)).toBeGreaterThan(55_000);
  });

  it('holds the queue until the provider resets, as a worker does on remaining 0', async () => {
    const prefix = newPrefix();
    const limiter = openSharedLimiter({
      connection: redis,
      prefix,
      provider: 'x',
      max: 1500,
      windowMs: 900_000,
    });
    await limiter.hold(30_000);
    // A shorter hold does not cut a longer one short.
    await limiter.hold(1_000);
    const wait = await limiter.take();
    expect(wait).toBeGreaterThan(25_000);
    expect(wait).toBeLessThanOrEqual(30_000);
    expect(await redis.get(limiter.key)).toBe(String(Number.MAX_SAFE_INTEGER));
  });
});
