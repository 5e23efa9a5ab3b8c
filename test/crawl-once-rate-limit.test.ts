import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { migrate, openDatabase } from '@birdfeed/db';
import { openCrawlQueue } from '@birdfeed/jobs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSandbox, startSandbox } from '../apps/sandbox/src/index.ts';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';
import { TEST_REDIS_URL, testRedisPrefix } from './support/redis.ts';
import { runCli } from './support/run-cli.ts';

/**
 * `crawl --once` takes its requests from the budget the user set for the credential
 * (X_RATE_LIMIT_MAX / X_RATE_LIMIT_WINDOW_MS, AGNTDATA_RATE_LIMIT_PER_MINUTE), as the workers
 * do: with X_RATE_LIMIT_MAX=5 it made every request the due targets needed (12) in one burst.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const COMMAND = fileURLToPath(new URL('./support/crawl-cli.ts', import.meta.url));

let sandbox: RunningSandbox;
let testDb: TestDatabase;

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    DATABASE_URL: testDb.url,
    X_API_BASE_URL: sandbox.url,
    X_BEARER_TOKEN: 'sandbox-x-token',
    ...extra,
  };
}

beforeAll(async () => {
  sandbox = await startSandbox({
    accounts: 4,
    tweetsPerAccount: 300,
    specialAccounts: false,
    activity: 'silent',
    frozen: true,
    epochMs: Date.UTC(2026, 5, 1),
  });
  testDb = await createTestDatabase('crawl_once_rate_limit');
  const database = await openDatabase({ url: testDb.url });
  await migrate(database.db);
  await database.close();
});

afterAll(async () => {
  await testDb?.drop();
  await sandbox?.stop();
});

/**
 * Runs `crawl --once --provider x` until it says it waits for the next window (or ends), then
 * interrupts it: the requests it made by then, its exit code and output.
 */
async function crawlUntilItWaits(childEnv: Record<string, string>) {
  const before = sandbox.stats().requests.total;
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', COMMAND, 'crawl', '--once', '--provider', 'x'],
    { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += String(chunk);
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  // Either it waits for the next window (and says so) or, without a limiter, it finishes.
  const waiting = new Promise<void>((resolve) => {
    child.stderr.on('data', (chunk) => {
      stderr += String(chunk);
      if (stderr.includes('waiting for the next window')) resolve();
    });
  });
  await Promise.race([waiting, exited]);
  // Give a burst the time to show, were there one.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const made = sandbox.stats().requests.total - before;
  child.kill('SIGINT');
  const code = await exited;
  return { made, code, stdout, stderr };
}

describe('crawl --once and the request budget the user set', () => {
  it('starts no more than X_RATE_LIMIT_MAX requests in one window, and says it waits', async () => {
    for (const account of sandbox.accounts()) {
      const run = await runCli(
        'command',
        ['watchlist', 'add', account.id, '--provider', 'x', '--backfill', '300'],
        env(),
      );
      expect(run.code, run.stderr).toBe(0);
    }
    const { made, code, stdout, stderr } = await crawlUntilItWaits(
      env({ X_RATE_LIMIT_MAX: '5', X_RATE_LIMIT_WINDOW_MS: '900000' }),
    );
    expect(made, stderr).toBe(5);
    expect(stderr).toContain('x requests of this window used up (5 per 15m)');
    // Interrupted while waiting: the run is recorded as failed and resumes from its cursor.
    expect(code).toBe(1);
    expect(stdout).toMatch(/failed .*error: (Error: )?interrupted/);
  });

  it('takes its requests from the workers limiter in Redis when REDIS_URL is set', async () => {
    const prefix = testRedisPrefix('once-shared');
    const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 3 });
    const sharedDb = await createTestDatabase('crawl_once_rate_limit_shared');
    try {
      const database = await openDatabase({ url: sharedDb.url });
      await migrate(database.db);
      await database.close();
      const sharedEnv = (extra: Record<string, string> = {}) =>
        env({ DATABASE_URL: sharedDb.url, ...extra });
      for (const account of sandbox.accounts()) {
        const run = await runCli(
          'command',
          ['watchlist', 'add', account.id, '--provider', 'x', '--backfill', '300'],
          sharedEnv(),
        );
        expect(run.code, run.stderr).toBe(0);
      }
      // The workers run with 5 per 15 minutes and have started 3 pages of this window.
      const queue = await openCrawlQueue({ connection: redis, prefix, provider: 'x' });
      await queue.setGlobalRateLimit(5, 900_000);
      await queue.close();
      await redis.set(`${prefix}:crawl.x.default:limiter`, '3', 'PX', 900_000);

      const { made, code, stderr } = await crawlUntilItWaits(
        sharedEnv({ REDIS_URL: TEST_REDIS_URL, BIRDFEED_QUEUE_PREFIX: prefix }),
      );
      expect(made, stderr).toBe(2);
      expect(stderr).toContain("x requests held by the workers' limiter in Redis");
      expect(code).toBe(1);
      expect(await redis.get(`${prefix}:crawl.x.default:limiter`)).toBe('5');
    } finally {
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
      await sharedDb.drop();
    }
  });

  it('a 503 that spent the window (remaining 0): the next request waits for the reset, zero 429s', async () => {
    // X's 15-minute window in 2 s of wall time, one request per window: the run's first
    // request is the window's last, and a 503.
    const windowWallMs = 2_000;
    const scaled = await startSandbox({
      seed: 'once-spent503',
      accounts: 1,
      tweetsPerAccount: 5,
      specialAccounts: false,
      activity: 'silent',
      timeScale: (15 * 60_000) / windowWallMs,
      xRateLimit: 1,
      xRateLimitWindowMs: 15 * 60_000,
      shortPageRate: 0,
      emptyPageRate: 0,
    });
    const spentDb = await createTestDatabase('crawl_once_spent503');
    try {
      const database = await openDatabase({ url: spentDb.url });
      await migrate(database.db);
      await database.close();
      const scaledEnv = env({ DATABASE_URL: spentDb.url, X_API_BASE_URL: scaled.url });
      const userId = scaled.accounts()[0]?.id as string;
      const add = await runCli(
        'command',
        ['watchlist', 'add', userId, '--provider', 'x', '--backfill', '5'],
        scaledEnv,
      );
      expect(add.code, add.stderr).toBe(0);

      scaled.faults.add('503*1@x');
      const run = await runCli('command', ['crawl', '--once', '--provider', 'x'], scaledEnv);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toContain('x said its rate-limit window is spent, waiting for its reset');

      const requests = scaled.requests().filter((entry) => entry.endpoint.endsWith('/tweets'));
      expect(requests.map((entry) => entry.status)).toEqual([503, 200]);
      expect(scaled.stats().rate_limited.total).toBe(0);
      // Its retry would have gone out 250-500 ms after the 503; it waited for the reset.
      const [spent, next] = requests.map((entry) => Date.parse(entry.at));
      expect((next ?? 0) - (spent ?? 0)).toBeGreaterThanOrEqual(windowWallMs);
    } finally {
      await spentDb.drop();
      await scaled.stop();
    }
  });
});
