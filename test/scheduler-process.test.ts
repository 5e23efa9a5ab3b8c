import { migrate, openDatabase, upsertTarget } from '@birdfeed/db';
import { crawlQueueName, createRedisConnection } from '@birdfeed/jobs';
import { Queue } from 'bullmq';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  type AppProcess,
  deleteRedisPrefix,
  spawnApp,
  waitUntil,
} from '../apps/worker/test/harness.ts';
import { switchableProxy } from './support/net.ts';
import { createTestDatabase } from './support/postgres.ts';
import { TEST_REDIS_URL, testRedisPrefix } from './support/redis.ts';

/**
 * SIGKILLs the app when the test ends however it ends: the finally blocks below do not run
 * when the test times out (an `await app.exited` that never resolves), and the scheduler
 * would go on ticking after the run.
 */
function killOnFinish(app: AppProcess): AppProcess {
  onTestFinished(() => {
    if (app.child.exitCode === null && app.child.signalCode === null) app.child.kill('SIGKILL');
  });
  return app;
}

describe('birdfeed scheduler process', () => {
  it('ticks on its period, picks up targets added later, and stops cleanly on SIGTERM', async () => {
    const testDb = await createTestDatabase('scheduler_process');
    const database = await openDatabase({ url: testDb.url });
    const redis = createRedisConnection({ url: TEST_REDIS_URL, role: 'producer' });
    const prefix = testRedisPrefix('schedproc');
    const queue = new Queue(crawlQueueName('x'), { connection: redis, prefix });
    let app: AppProcess | undefined;
    try {
      await migrate(database.db);
      await upsertTarget(database.db, { provider: 'x', userId: '501' });
      app = killOnFinish(
        spawnApp('scheduler', ['--tick', '200ms', '--provider', 'x'], {
          PATH: process.env.PATH ?? '',
          REDIS_URL: TEST_REDIS_URL,
          DATABASE_URL: testDb.url,
          BIRDFEED_QUEUE_PREFIX: prefix,
          LOG_LEVEL: 'info',
        }),
      );
      const jobsFor = async (count: number) =>
        (await queue.getJobCountByTypes('prioritized', 'waiting')) >= count ? true : undefined;
      // Deadlines leave room for node + tsx + the CLI starting on a loaded machine.
      await waitUntil(() => jobsFor(1), 45_000, 'the first tick');
      // A target added while it runs is scheduled by a later tick.
      await upsertTarget(database.db, { provider: 'x', userId: '502' });
      await waitUntil(() => jobsFor(2), 30_000, 'a later tick');
      app.child.kill('SIGTERM');
      expect(await app.exited).toBe(0);
      expect(app.output()).toMatch(/scheduler stopped cleanly/);
      const jobs = await queue.getJobs(['prioritized', 'waiting']);
      expect(jobs.map((job) => job.data.userId).sort()).toEqual(['501', '502']);
    } finally {
      // A failed case must not leave its scheduler ticking against a dropped database.
      if (app !== undefined && app.child.exitCode === null && app.child.signalCode === null) {
        app.child.kill('SIGKILL');
        await app.exited;
      }
      await queue.close();
      await deleteRedisPrefix(TEST_REDIS_URL, prefix);
      await redis.quit();
      await database.close();
      await testDb.drop();
    }
  }, 120_000);

  it('Postgres away: one line naming the database (not a 4 KB error per tick), one when it is back', async () => {
    const testDb = await createTestDatabase('scheduler_db_down');
    const database = await openDatabase({ url: testDb.url });
    const proxy = await switchableProxy({ host: '127.0.0.1', port: 5432 });
    const prefix = testRedisPrefix('scheddown');
    let app: AppProcess | undefined;
    try {
      await migrate(database.db);
      app = killOnFinish(
        spawnApp('scheduler', ['--tick', '100ms', '--provider', 'x'], {
          PATH: process.env.PATH ?? '',
          REDIS_URL: TEST_REDIS_URL,
          DATABASE_URL: testDb.url.replace('127.0.0.1:5432', `127.0.0.1:${proxy.port}`),
          BIRDFEED_QUEUE_PREFIX: prefix,
          LOG_LEVEL: 'info',
        }),
      );
      const running = app;
      await waitUntil(
        () => (/scheduler running/.test(running.output()) ? true : undefined),
        45_000,
        'the scheduler to start',
      );
      proxy.down();
      await waitUntil(
        () => (/postgres unreachable/.test(running.output()) ? true : undefined),
        30_000,
        'the outage line',
      );
      // Twenty ticks or so fail meanwhile.
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      proxy.up();
      await waitUntil(
        () => (/postgres reachable again/.test(running.output()) ? true : undefined),
        30_000,
        'the recovery line',
      );
      running.child.kill('SIGTERM');
      expect(await running.exited).toBe(0);
      const lines = running
        .output()
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map(
          (line) => JSON.parse(line) as { msg: string; postgres?: string; errorsHeldBack?: number },
        );
      const outage = lines.filter((line) => /^postgres /.test(line.msg));
      expect(outage.map((line) => line.msg)).toEqual([
        'postgres unreachable: no target is claimed until it is back; the due ones stay due (repeats of this error are counted, not logged)',
        'postgres reachable again',
      ]);
      expect(outage[0]?.postgres).toBe(
        `postgres://postgres@127.0.0.1:${proxy.port}/${testDb.name}`,
      );
      expect(outage[1]?.errorsHeldBack).toBeGreaterThan(5);
      expect(lines.filter((line) => line.msg === 'tick failed')).toEqual([]);
    } finally {
      if (app !== undefined && app.child.exitCode === null && app.child.signalCode === null) {
        app.child.kill('SIGKILL');
        await app.exited;
      }
      await deleteRedisPrefix(TEST_REDIS_URL, prefix);
      await proxy.close();
      await database.close();
      await testDb.drop();
    }
  }, 120_000);
});
