import { type ChildProcess, spawn } from 'node:child_process';
import { type AddressInfo, createServer } from 'node:net';
import { migrate, openDatabase } from '@birdfeed/db';
import {
  assertNoEviction,
  createRedisConnection,
  enqueueFirstPage,
  openCrawlQueue,
  queueStatus,
  RedisPolicyError,
  RedisUnavailableError,
  readEvictionPolicy,
  verifyRedis,
} from '@birdfeed/jobs';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseWorkerEnv } from '../apps/worker/src/env.ts';
import { startWorkers } from '../apps/worker/src/main.ts';
import { deleteRedisPrefix, spawnApp } from '../apps/worker/test/harness.ts';
import { freePort } from './support/net.ts';
import { createTestDatabase } from './support/postgres.ts';
import { TEST_REDIS_URL, testRedisPrefix } from './support/redis.ts';
import { runCli } from './support/run-cli.ts';

/**
 * The Redis checks against real servers: the shared test Redis (noeviction) and a throwaway
 * redis-server started here with an evicting policy, which the worker must refuse.
 */

let evicting: ChildProcess | undefined;
let evictingUrl = '';

beforeAll(async () => {
  const port = await freePort();
  evicting = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--maxmemory',
      '64mb',
      '--maxmemory-policy',
      'allkeys-lru',
    ],
    { stdio: 'ignore' },
  );
  evictingUrl = `redis://127.0.0.1:${port}`;
  const probe = createRedisConnection({ url: evictingUrl, role: 'producer' });
  try {
    // Up to 30 s for redis-server to listen (5 s was an idle-machine figure).
    for (let i = 0; i < 600; i += 1) {
      try {
        await probe.ping();
        break;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  } finally {
    probe.disconnect();
  }
});

afterAll(() => {
  evicting?.kill('SIGTERM');
});

describe('redis eviction policy', () => {
  it('the test Redis (noeviction) passes', async () => {
    const redis = createRedisConnection({ url: TEST_REDIS_URL, role: 'producer' });
    try {
      expect(await readEvictionPolicy(redis)).toBe('noeviction');
      await expect(assertNoEviction(redis)).resolves.toBe('noeviction');
    } finally {
      await redis.quit();
    }
  });

  it('an evicting Redis is refused, saying why', async () => {
    const redis = createRedisConnection({ url: evictingUrl, role: 'producer' });
    try {
      expect(await readEvictionPolicy(redis)).toBe('allkeys-lru');
      const error = await assertNoEviction(redis).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(RedisPolicyError);
      expect((error as Error).message).toMatch(/"allkeys-lru".*needs "noeviction"/);
    } finally {
      await redis.quit();
    }
  });

  it('startWorkers refuses an evicting Redis before taking any job', async () => {
    const env = parseWorkerEnv({
      REDIS_URL: evictingUrl,
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres',
      X_BEARER_TOKEN: 'not-used',
      BIRDFEED_QUEUE_PREFIX: testRedisPrefix('evict'),
    });
    await expect(
      startWorkers({ env, logger: pino({ level: 'silent' }), providers: ['x'] }),
    ).rejects.toBeInstanceOf(RedisPolicyError);
  });

  it('`birdfeed worker` exits 1 on an evicting Redis, and the token never shows', async () => {
    const app = spawnApp('worker', [], {
      PATH: process.env.PATH ?? '',
      REDIS_URL: evictingUrl,
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres',
      X_BEARER_TOKEN: 'super-secret-token-123',
    });
    expect(await app.exited).toBe(1);
    expect(app.output()).toMatch(/refusing to start: Redis maxmemory-policy is "allkeys-lru"/);
    expect(app.output()).not.toContain('super-secret-token-123');
  });
});

describe('redis unreachable', () => {
  it('verifyRedis fails fast with the address (no password) instead of retrying forever', async () => {
    const port = await freePort();
    const started = Date.now();
    const error = await verifyRedis(`redis://:hunter2@127.0.0.1:${port}`, 2_000).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(RedisUnavailableError);
    expect((error as Error).message).toContain(`127.0.0.1:${port}`);
    expect((error as Error).message).not.toContain('hunter2');
    // Its own 2 s deadline, not a retry loop; the bound leaves room for a loaded machine.
    expect(Date.now() - started).toBeLessThan(8_000);
    await expect(verifyRedis(TEST_REDIS_URL)).resolves.toBe('noeviction');
    await expect(verifyRedis(evictingUrl)).rejects.toBeInstanceOf(RedisPolicyError);
  });

  it('a server that accepts and never answers, or a database Redis lacks, is refused in time', async () => {
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    try {
      const started = Date.now();
      const error = await verifyRedis(`redis://127.0.0.1:${port}`, 1_000).catch(
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(RedisUnavailableError);
      expect((error as Error).message).toMatch(/127\.0\.0\.1:\d+: no answer within 1 s/);
      expect(Date.now() - started).toBeLessThan(8_000);
      // `birdfeed status` still prints the database part, and the queue part says why not.
      const testDb = await createTestDatabase('status_silent_redis');
      try {
        const database = await openDatabase({ url: testDb.url });
        await migrate(database.db);
        await database.close();
        const status = await runCli('birdfeed', ['status'], {
          DATABASE_URL: testDb.url,
          REDIS_URL: `redis://127.0.0.1:${port}`,
          LOG_LEVEL: 'silent',
        });
        expect(status.code, status.stderr).toBe(0);
        expect(status.stdout).toMatch(/no answer within 5 s/);
      } finally {
        await testDb.drop();
      }
    } finally {
      silent.close();
    }
    // ioredis reports a failed SELECT as an error event and carries on with database 0.
    const wrongDb = new URL(TEST_REDIS_URL);
    wrongDb.pathname = '/99';
    await expect(verifyRedis(wrongDb.toString())).rejects.toThrow(
      /selects database 99, which this Redis refuses: ERR DB index is out of range/,
    );
  });

  it('`birdfeed scheduler` exits 1 when Redis cannot be reached', async () => {
    const port = await freePort();
    const app = spawnApp('scheduler', ['--once'], {
      PATH: process.env.PATH ?? '',
      REDIS_URL: `redis://127.0.0.1:${port}`,
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres',
    });
    expect(await app.exited).toBe(1);
    expect(app.output()).toMatch(/refusing to start: cannot reach Redis at redis:\/\/127\.0\.0\.1/);
  });
});

describe('queue status', () => {
  it('lists every crawl queue under a prefix with its depth, and nothing from other prefixes', async () => {
    const redis = createRedisConnection({ url: TEST_REDIS_URL, role: 'producer' });
    const prefix = testRedisPrefix('status');
    const x = await openCrawlQueue({ connection: redis, prefix, provider: 'x' });
    const agntdata = await openCrawlQueue({
      connection: redis,
      prefix,
      provider: 'agntdata',
      credentialLabel: 'team-b',
    });
    try {
      for (const [i, userId] of ['1', '2', '3'].entries()) {
        await enqueueFirstPage(x, {
          provider: 'x',
          userId,
          runId: String(i + 1),
          kind: i === 0 ? 'backfill' : 'incremental',
          page: 0,
        });
      }
      await enqueueFirstPage(
        agntdata,
        { provider: 'agntdata', userId: '9', runId: '10', kind: 'backfill', page: 0 },
        { delayMs: 60_000 },
      );
      await x.pause();
      const statuses = await queueStatus({ connection: redis, prefix });
      expect(statuses).toHaveLength(2);
      expect(statuses[0]).toMatchObject({
        name: 'crawl.agntdata.team-b',
        provider: 'agntdata',
        credentialLabel: 'team-b',
        waiting: 0,
        delayed: 1,
        paused: false,
        limiter: { max: null, remaining: null },
        workers: 0,
        // Only a delayed job: nothing is waiting yet.
        waitingWithoutWorker: false,
      });
      expect(statuses[1]).toMatchObject({
        name: 'crawl.x.default',
        waiting: 3,
        active: 0,
        paused: true,
        pauseReason: null,
        workers: 0,
        waitingWithoutWorker: true,
      });
      const other = await queueStatus({ connection: redis, prefix: testRedisPrefix('empty') });
      expect(other).toEqual([]);
    } finally {
      // Every key of the prefix (queues, registry), even when a step above failed.
      await Promise.allSettled([x.close(), agntdata.close()]);
      await deleteRedisPrefix(TEST_REDIS_URL, prefix);
      await redis.quit();
    }
  });
});
