import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { upsertTarget } from '@birdfeed/db';
import { crawlQueueName } from '@birdfeed/jobs';
import { Queue } from 'bullmq';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  type AppProcess,
  createCrawlFixture,
  spawnApp,
  waitUntil,
} from '../apps/worker/test/harness.ts';
import { freePort } from './support/net.ts';
import { createTestDatabase } from './support/postgres.ts';
import { testRedisPrefix } from './support/redis.ts';
import { runCli } from './support/run-cli.ts';

/**
 * A Redis outage, as a worker and a scheduler running for months meet one: a redis-server of
 * this test's own is killed and started again on the same port. Each process says it once
 * when Redis goes and once when it is back — not a line per reconnect attempt per connection
 * (≈ 155 lines in 25 s before) or per due target per tick — and goes on crawling.
 */

function startRedis(port: number): ChildProcess {
  return spawn(
    'redis-server',
    [
      ...['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      ...['--maxmemory-policy', 'noeviction'],
    ],
    { stdio: 'ignore' },
  );
}

function count(output: string, pattern: RegExp): number {
  return output.split('\n').filter((line) => pattern.test(line)).length;
}

describe('a Redis outage', () => {
  it('is logged once by each process, then its end; crawling goes on after it', async () => {
    const port = await freePort();
    let redis = startRedis(port);
    const apps: AppProcess[] = [];
    // Not (only) the finally below: it never runs when the test times out (its awaits stay
    // pending), and a redis-server, worker and scheduler would outlive the run.
    onTestFinished(() => {
      for (const child of [redis, ...apps.map((app) => app.child)]) {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
    });
    const testDb = await createTestDatabase('redis_outage');
    const fixture = await createCrawlFixture({
      databaseUrl: testDb.url,
      redisUrl: `redis://127.0.0.1:${port}`,
      prefix: testRedisPrefix('outage'),
      sandbox: { accounts: 3, tweetsPerAccount: 20, specialAccounts: false },
      dropDatabase: () => testDb.drop(),
    });
    const succeededRuns = async (userId: string) => {
      const { rows } = await fixture.pool.query(
        `SELECT 1 FROM crawl_runs WHERE user_id = $1 AND outcome = 'succeeded'`,
        [userId],
      );
      return rows.length > 0 ? true : undefined;
    };
    try {
      const [first, second] = fixture.sandbox.accounts();
      await upsertTarget(fixture.database.db, { provider: 'x', userId: first?.id as string });
      const env = fixture.env({ LOG_LEVEL: 'info' });
      // Up to 30 s for redis-server to listen on a loaded machine: the worker checks at start.
      await waitUntil(
        () =>
          new Promise<true | undefined>((resolve) => {
            const socket = createServer().listen(port, '127.0.0.1');
            socket.once('listening', () => socket.close(() => resolve(undefined)));
            socket.once('error', () => resolve(true));
          }),
        30_000,
        'redis-server to listen',
      );
      const worker = spawnApp('worker', ['--provider', 'x', '--concurrency', '2'], env);
      const scheduler = spawnApp('scheduler', ['--tick', '200ms', '--provider', 'x'], env);
      apps.push(worker, scheduler);
      await waitUntil(() => succeededRuns(first?.id as string), 60_000, 'the first run');
      // And its job finished in Redis too (the run is closed in Postgres a moment before):
      // a job Redis loses in flight is a 'Missing key' error of its own, not this test's.
      const queue = new Queue(crawlQueueName('x'), {
        connection: { host: '127.0.0.1', port, maxRetriesPerRequest: 1 },
        prefix: fixture.prefix,
      });
      try {
        await waitUntil(
          async () => {
            const counts = await queue.getJobCounts('active', 'completed');
            return counts.active === 0 && (counts.completed ?? 0) > 0 ? true : undefined;
          },
          30_000,
          'the job to complete in Redis',
        );
      } finally {
        await queue.close();
      }

      redis.kill('SIGKILL');
      await new Promise((resolve) => redis.once('exit', resolve));
      // Several reconnect attempts of every connection, and scheduler ticks, while it is away.
      await new Promise((resolve) => setTimeout(resolve, 6_000));
      redis = startRedis(port);
      for (const app of apps) {
        await waitUntil(
          () => (/redis reachable again/.test(app.output()) ? true : undefined),
          60_000,
          'the process to see Redis again',
        );
      }

      // Redis came back empty (no persistence here); a target added now is crawled.
      await upsertTarget(fixture.database.db, { provider: 'x', userId: second?.id as string });
      await waitUntil(() => succeededRuns(second?.id as string), 60_000, 'a run after the outage');

      // The queue's limiter is back in the empty Redis: status shows the budget, not 'unknown'.
      const status = await runCli('birdfeed', ['status', '--json'], env);
      expect(status.code, status.stderr).toBe(0);
      const queues = (
        JSON.parse(status.stdout) as {
          queues: { queues: Array<{ provider: string; limiter: { max: number | null } }> };
        }
      ).queues.queues;
      expect(queues.find((queue) => queue.provider === 'x')?.limiter.max).toBe(1500);

      for (const [name, app] of [
        ['worker', worker],
        ['scheduler', scheduler],
      ] as const) {
        const output = app.output();
        expect(count(output, /redis unreachable/), `${name}:\n${output}`).toBe(1);
        expect(count(output, /redis reachable again/), name).toBe(1);
        expect(
          count(output, /"worker error".*(ECONN|Connection is closed)|redis connection error/),
          `${name}:\n${output}`,
        ).toBe(0);
        expect(count(output, /could not schedule a target/), `${name}:\n${output}`).toBe(0);
      }
    } finally {
      for (const app of apps) {
        if (app.child.exitCode === null && app.child.signalCode === null) {
          app.child.kill('SIGKILL');
          await app.exited;
        }
      }
      await fixture.close();
      redis.kill('SIGKILL');
    }
  }, 240_000);
});
