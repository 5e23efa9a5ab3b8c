import {
  addSpend,
  type Database,
  migrate,
  openDatabase,
  spendDay,
  upsertTarget,
} from '@birdfeed/db';
import { type CrawlQueue, createRedisConnection, openCrawlQueue } from '@birdfeed/jobs';
import type { ProviderName } from '@birdfeed/model';
import type { Redis } from 'ioredis';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runTick, type SchedulerState, type TickOptions } from '../apps/scheduler/src/tick.ts';
import { deleteRedisPrefix } from '../apps/worker/test/harness.ts';
import { switchableProxy } from './support/net.ts';
import { capturedDatabaseOutage } from './support/outage.ts';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';
import { TEST_REDIS_URL, testRedisPrefix } from './support/redis.ts';

let testDb: TestDatabase;
let database: Database;
let pool: pg.Pool;

async function q<T>(text: string): Promise<T[]> {
  return (await pool.query(text)).rows as T[];
}
let redis: Redis;
let prefix: string | undefined;
let queues: Map<ProviderName, CrawlQueue>;
const logLines: Array<Record<string, unknown>> = [];
const logger = pino(
  { level: 'debug' },
  { write: (line: string) => logLines.push(JSON.parse(line) as Record<string, unknown>) },
);

beforeAll(async () => {
  testDb = await createTestDatabase('scheduler');
  database = await openDatabase({ url: testDb.url });
  await migrate(database.db);
  pool = new pg.Pool({ connectionString: testDb.url, max: 2 });
  // pool.end() resolves before its clients' backends are gone; one still closing when the
  // database is dropped gets a FATAL, which must not become an uncaught 'error' event.
  pool.on('error', () => {});
  redis = createRedisConnection({ url: TEST_REDIS_URL, role: 'producer' });
});

afterAll(async () => {
  // Every step runs even when an earlier one (or beforeAll) failed, so nothing is left behind.
  const results = await Promise.allSettled([
    (async () => {
      for (const queue of queues?.values() ?? []) await queue.close();
      if (prefix !== undefined) await deleteRedisPrefix(TEST_REDIS_URL, prefix);
      await redis?.quit();
    })(),
    database?.close(),
    pool?.end(),
  ]);
  await testDb?.drop();
  const failed = results.find((result) => result.status === 'rejected');
  if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
});

beforeEach(async () => {
  for (const queue of queues?.values() ?? []) await queue.close();
  if (prefix !== undefined) await deleteRedisPrefix(TEST_REDIS_URL, prefix);
  prefix = testRedisPrefix('scheduler');
  queues = new Map();
  for (const provider of ['x', 'agntdata'] as const) {
    queues.set(provider, await openCrawlQueue({ connection: redis, prefix, provider }));
  }
  await q(`TRUNCATE watch_targets, crawl_checkpoints, crawl_runs, provider_spend`);
  logLines.length = 0;
});

function tickOptions(state: SchedulerState, extra: Partial<TickOptions> = {}): TickOptions {
  return { db: database.db, queues, logger, batch: 100, state, ...extra };
}

async function jobsOf(provider: ProviderName) {
  const queue = queues.get(provider) as CrawlQueue;
  return queue.getJobs(['waiting', 'prioritized', 'active', 'delayed']);
}

async function runs() {
  return q<{ id: string; user_id: string; kind: string; outcome: string }>(
    'SELECT id::text, user_id::text, kind, outcome FROM crawl_runs ORDER BY id',
  );
}

describe('scheduler tick', () => {
  it('enqueues one first-page job per due target, incremental before backfill, and moves next_due_at', async () => {
    await upsertTarget(database.db, { provider: 'x', userId: '1001', intervalSeconds: 600 });
    await upsertTarget(database.db, { provider: 'x', userId: '1002', intervalSeconds: 600 });
    await upsertTarget(database.db, { provider: 'x', userId: '1003', enabled: false });
    // 1002 has been read before: its run is incremental.
    await q(`INSERT INTO crawl_checkpoints (provider, user_id, since_id) VALUES ('x', 1002, 555)`);
    const state: SchedulerState = { budgetLoggedDay: null };
    const result = await runTick(tickOptions(state));
    expect(result).toMatchObject({ claimed: 2, enqueued: 2, inFlight: 0, errors: 0 });

    const jobs = await jobsOf('x');
    const byUser = new Map(jobs.map((job) => [job.data.userId, job]));
    expect([...byUser.keys()].sort()).toEqual(['1001', '1002']);
    const backfill = byUser.get('1001');
    const incremental = byUser.get('1002');
    expect(backfill?.data).toMatchObject({ provider: 'x', kind: 'backfill', page: 0 });
    expect(incremental?.data).toMatchObject({ provider: 'x', kind: 'incremental', page: 0 });
    expect(incremental?.opts.priority).toBeLessThan(backfill?.opts.priority as number);
    expect(backfill?.id).toBe(`x.1001.${backfill?.data.runId}.0`);

    const runRows = await runs();
    expect(runRows.map((run) => [run.user_id, run.kind, run.outcome])).toEqual([
      ['1001', 'backfill', 'running'],
      ['1002', 'incremental', 'running'],
    ]);
    const due = await q<{ ahead: boolean }>(
      `SELECT next_due_at > now() + interval '9 minutes' AS ahead FROM watch_targets WHERE enabled`,
    );
    expect(due.every((row) => row.ahead)).toBe(true);

    // Nothing is due any more.
    expect((await runTick(tickOptions(state))).claimed).toBe(0);
  });

  it('a target whose enqueue failed (Redis away) is due again shortly, not an interval later', async () => {
    await upsertTarget(database.db, { provider: 'x', userId: '1101', intervalSeconds: 86_400 });
    const lost = createRedisConnection({ url: TEST_REDIS_URL, role: 'producer' });
    const queue = await openCrawlQueue({ connection: lost, prefix, provider: 'x' });
    lost.disconnect();
    const state: SchedulerState = { budgetLoggedDay: null };
    const result = await runTick({ ...tickOptions(state), queues: new Map([['x', queue]]) });
    expect(result).toMatchObject({ claimed: 1, enqueued: 0, errors: 1 });
    const [due] = await q<{ seconds: number }>(
      `SELECT extract(epoch FROM next_due_at - now())::float8 AS seconds FROM watch_targets WHERE user_id = 1101`,
    );
    // Claimed, it had moved a day ahead; released, it is due again in 90 s.
    expect(due?.seconds).toBeGreaterThan(60);
    expect(due?.seconds).toBeLessThan(100);
    expect(logLines.map((line) => line.msg)).toContainEqual(
      expect.stringContaining('due again in 90s'),
    );
  });

  it('a target claimed just before Postgres went away is released by the tick after it comes back', async () => {
    await upsertTarget(database.db, { provider: 'x', userId: '1102', intervalSeconds: 86_400 });
    const proxy = await switchableProxy({ host: '127.0.0.1', port: 5432 });
    const through = await openDatabase({
      url: testDb.url.replace('127.0.0.1:5432', `127.0.0.1:${proxy.port}`),
      maxConnections: 2,
    });
    const queue = queues.get('x') as CrawlQueue;
    // Postgres goes away between the claim and the target's own statements.
    const cutting = Object.create(queue) as CrawlQueue;
    cutting.getDeduplicationJobId = async (id: string) => {
      proxy.down();
      return queue.getDeduplicationJobId(id);
    };
    const { databaseOutage, lines: outageLines } = capturedDatabaseOutage('no target is claimed');
    const state: SchedulerState = { budgetLoggedDay: null };
    try {
      const options = { ...tickOptions(state), db: through.db, databaseOutage };
      const cut = await runTick({ ...options, queues: new Map([['x', cutting]]) });
      expect(cut).toMatchObject({ claimed: 1, enqueued: 0, errors: 1 });
      expect(state.unreleased?.size).toBe(1);
      const [ahead] = await q<{ seconds: number }>(
        `SELECT extract(epoch FROM next_due_at - now())::float8 AS seconds FROM watch_targets WHERE user_id = 1102`,
      );
      expect(ahead?.seconds).toBeGreaterThan(80_000);
      // Still away: the tick fails and keeps the claim to release.
      await expect(runTick(options)).rejects.toThrow();
      expect(state.unreleased?.size).toBe(1);
      proxy.up();
      await runTick(options);
      expect(state.unreleased?.size).toBe(0);
      const [due] = await q<{ seconds: number }>(
        `SELECT extract(epoch FROM next_due_at - now())::float8 AS seconds FROM watch_targets WHERE user_id = 1102`,
      );
      expect(due?.seconds).toBeLessThan(100);
      expect(outageLines.map((line) => line.msg)).toEqual([
        'postgres unreachable: no target is claimed (repeats of this error are counted, not logged)',
      ]);
    } finally {
      await through.close();
      await proxy.close();
    }
  });

  it('never starts a second run while one is in flight, and restarts an orphaned one', async () => {
    await upsertTarget(database.db, { provider: 'x', userId: '2001', intervalSeconds: 60 });
    const state: SchedulerState = { budgetLoggedDay: null };
    expect((await runTick(tickOptions(state))).enqueued).toBe(1);

    await q(`UPDATE watch_targets SET next_due_at = now() - interval '1s'`);
    const again = await runTick(tickOptions(state));
    expect(again).toMatchObject({ claimed: 1, enqueued: 0, inFlight: 1 });
    expect(await jobsOf('x')).toHaveLength(1);
    expect(await runs()).toHaveLength(1);

    // Redis lost the job. A run opened under a minute ago may still be another scheduler's
    // (opened, first page not yet enqueued): left alone.
    await (queues.get('x') as CrawlQueue).obliterate({ force: true });
    await q(`UPDATE watch_targets SET next_due_at = now() - interval '1s'`);
    expect(await runTick(tickOptions(state))).toMatchObject({
      claimed: 1,
      enqueued: 0,
      inFlight: 1,
      orphansClosed: 0,
    });
    // Older, it is orphaned: the next tick closes it and starts afresh.
    await q(`UPDATE crawl_runs SET started_at = now() - interval '5 minutes'`);
    await q(`UPDATE watch_targets SET next_due_at = now() - interval '1s'`);
    const after = await runTick(tickOptions(state));
    expect(after).toMatchObject({ claimed: 1, enqueued: 1, orphansClosed: 1 });
    expect((await runs()).map((run) => run.outcome)).toEqual(['cancelled', 'running']);
  });

  it('stops new agntdata runs once the daily budget is spent, logging it once a day', async () => {
    await upsertTarget(database.db, { provider: 'agntdata', userId: '3001' });
    await upsertTarget(database.db, { provider: 'x', userId: '3002' });
    // One clock for the spend's day and the ticks' budget check: a test running across UTC
    // midnight would otherwise write yesterday's spend and find today's budget untouched.
    // A second ahead of Postgres' now(), so the targets just upserted are due.
    const at = new Date(Date.now() + 1_000);
    const now = () => at;
    await addSpend(database.db, {
      provider: 'agntdata',
      day: spendDay(at),
      cents: 120,
      requests: 120,
    });
    const state: SchedulerState = { budgetLoggedDay: null };
    const first = await runTick(tickOptions(state, { agntdataDailyBudgetCents: 100, now }));
    expect(first.enqueued).toBe(1);
    expect(first.skippedProviders.agntdata).toMatch(/daily budget reached: 120¢/);
    expect(await jobsOf('agntdata')).toHaveLength(0);
    await runTick(tickOptions(state, { agntdataDailyBudgetCents: 100, now }));
    const budgetLines = logLines.filter((line) => String(line.msg).includes('daily budget'));
    expect(budgetLines).toHaveLength(1);

    // The agntdata target stayed due: with budget left it is scheduled.
    const later = await runTick(tickOptions(state, { agntdataDailyBudgetCents: 500, now }));
    expect(later.enqueued).toBe(1);
    expect((await jobsOf('agntdata')).map((job) => job.data.userId)).toEqual(['3001']);
  });

  it('two schedulers ticking at once schedule every target exactly once', async () => {
    for (let i = 0; i < 40; i += 1) {
      await upsertTarget(database.db, { provider: 'x', userId: String(4000 + i) });
    }
    const other = await openDatabase({ url: testDb.url });
    try {
      const [a, b] = await Promise.all([
        runTick(tickOptions({ budgetLoggedDay: null }, { batch: 25 })),
        runTick(tickOptions({ budgetLoggedDay: null }, { batch: 25, db: other.db })),
      ]);
      expect(a.enqueued + b.enqueued).toBe(40);
      expect(a.claimed).toBeGreaterThan(0);
      expect(b.claimed).toBeGreaterThan(0);
    } finally {
      await other.close();
    }
    const jobs = await jobsOf('x');
    expect(new Set(jobs.map((job) => job.data.userId)).size).toBe(40);
    expect(jobs).toHaveLength(40);
    expect(await runs()).toHaveLength(40);
  });
});
