import { crawlOnce, crawlPage, openRun } from '@birdfeed/crawl';
import {
  type Database,
  ensureCheckpoint,
  getCheckpoint,
  migrate,
  openDatabase,
  rowsOf,
  sql,
  upsertTarget,
} from '@birdfeed/db';
import {
  type CrawlQueue,
  enqueueFirstPage,
  openCrawlQueue,
  openQueuedRunProbe,
  type QueuedRunProbe,
} from '@birdfeed/jobs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSandbox, startSandbox } from '../apps/sandbox/src/index.ts';
import { FakeTimeline } from './support/crawl-fake-timeline.ts';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';
import { TEST_REDIS_URL, testRedisPrefix } from './support/redis.ts';
import { runCli } from './support/run-cli.ts';

/**
 * `crawl --once` judged a run idle from Postgres alone (no write for 16 minutes), but a run's
 * next page job can wait in the workers' queue far longer (backfill pages wait behind
 * incremental ones while the X budget is spent) and leaves no trace in Postgres while it does.
 * Adopted, the run was then driven by the worker and the one-shot at once: every page bought
 * twice. With REDIS_URL set it asks the queue first and leaves such a target to the workers.
 */

let testDb: TestDatabase;
let database: Database;
let redis: Redis;
let prefix: string;
let queue: CrawlQueue;
let probe: QueuedRunProbe;

beforeAll(async () => {
  testDb = await createTestDatabase('crawl_once_queued');
  database = await openDatabase({ url: testDb.url });
  await migrate(database.db);
  redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 3 });
  prefix = testRedisPrefix('once-queued');
  queue = await openCrawlQueue({ connection: redis, prefix, provider: 'agntdata' });
  probe = openQueuedRunProbe({ connection: redis, prefix });
});

afterAll(async () => {
  await probe?.close();
  await queue?.obliterate({ force: true }).catch(() => {});
  await queue?.close();
  const keys = prefix === undefined ? [] : await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis?.disconnect();
  await database?.close();
  await testDb?.drop();
});

/** A provider that takes 50 ms to answer, like a real one over the network. */
function slowClient(fake: FakeTimeline) {
  return {
    provider: fake.provider,
    requests: fake.requests,
    fetchTimelinePage: async (request: Parameters<FakeTimeline['fetchTimelinePage']>[0]) => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      return fake.fetchTimelinePage(request);
    },
  };
}

describe('crawl --once and a run whose page job waits in the workers queue', () => {
  it('leaves the run to the workers: no page is fetched twice', async () => {
    const { db } = database;
    const key = { provider: 'agntdata', userId: '8181' } as const;
    await upsertTarget(db, { ...key, backfillDepth: 400 });
    await ensureCheckpoint(db, key);
    const fake = new FakeTimeline({
      provider: 'agntdata',
      userId: key.userId,
      ids: Array.from({ length: 200 }, (_, i) => 10_000n + BigInt(i)),
      pageSize: 10,
    });
    const client = slowClient(fake);
    // The scheduler opened the run and enqueued page 0 twenty minutes ago; the job still waits.
    const run = await openRun(db, key);
    await enqueueFirstPage(queue, { ...key, runId: run.id, kind: run.kind, page: 0 });
    await db.execute(
      sql`update crawl_runs set started_at = now() - interval '20 minutes' where id = ${run.id}`,
    );
    await db.execute(
      sql`update crawl_checkpoints set updated_at = now() - interval '20 minutes' where user_id = ${key.userId}`,
    );

    // The worker chain (one crawlPage per job, the next job when next === 'page') and the one-shot.
    const workerChain = (async () => {
      for (;;) {
        const step = await crawlPage({ db, client, target: key, runId: run.id });
        if (step.next === 'done') return;
      }
    })();
    const once = crawlOnce({
      db,
      clients: { agntdata: client },
      targets: [key],
      sleep: async () => {},
      queuedJobOf: (target) => probe.jobIdOf(target.provider, target.userId),
    });
    const [, result] = await Promise.all([workerChain, once]);
    expect(result.ok).toBe(false);
    expect(result.targets).toEqual([]);
    expect(result.skipped).toEqual([
      {
        provider: 'agntdata',
        userId: key.userId,
        count: 1,
        reason: expect.stringContaining('a run of this target is queued in Redis'),
      },
    ]);
    expect(result.skipped[0]?.reason).toContain('left to the workers');
    // 200 tweets at 10 a page: 20 pages, and the empty one that ends the window.
    expect(client.requests.length).toBeLessThanOrEqual(21);
    const [spend] = rowsOf<{ requests: number }>(
      await db.execute(sql`select sum(requests)::int as requests from provider_spend`),
    );
    expect(spend?.requests ?? 0).toBeLessThanOrEqual(21);
    await queue.obliterate({ force: true });
  });

  it('does not crawl a target it cannot ask Redis about', async () => {
    const { db } = database;
    const key = { provider: 'agntdata', userId: '8282' } as const;
    await upsertTarget(db, { ...key, backfillDepth: 100 });
    await ensureCheckpoint(db, key);
    const fake = new FakeTimeline({
      provider: 'agntdata',
      userId: key.userId,
      ids: [1n, 2n, 3n],
      pageSize: 10,
    });
    const result = await crawlOnce({
      db,
      clients: { agntdata: fake },
      targets: [key],
      sleep: async () => {},
      queuedJobOf: async () => {
        throw new Error('Connection is closed.');
      },
    });
    expect(result.ok).toBe(false);
    expect(fake.requests).toHaveLength(0);
    expect(result.skipped[0]?.reason).toContain(
      'could not ask Redis whether a run of this target is queued (Connection is closed.)',
    );
    // Nothing opened: no run for the target.
    expect((await getCheckpoint(db, key))?.runId ?? null).toBeNull();
  });
});

describe('birdfeed crawl --once with REDIS_URL', () => {
  let sandbox: RunningSandbox;
  let cliDb: TestDatabase;

  beforeAll(async () => {
    sandbox = await startSandbox({
      accounts: 2,
      tweetsPerAccount: 30,
      specialAccounts: false,
      activity: 'silent',
      frozen: true,
      epochMs: Date.UTC(2026, 5, 1),
    });
    cliDb = await createTestDatabase('crawl_once_queued_cli');
    const cli = await openDatabase({ url: cliDb.url });
    await migrate(cli.db);
    await cli.close();
  });

  afterAll(async () => {
    await cliDb?.drop();
    await sandbox?.stop();
  });

  const birdfeed = (args: string[], env: Record<string, string> = {}) =>
    runCli('command', args, {
      DATABASE_URL: cliDb.url,
      X_API_BASE_URL: sandbox.url,
      X_BEARER_TOKEN: 'sandbox-x-token',
      ...env,
    });

  it('leaves a target whose run is queued to the workers, and crawls the others', async () => {
    const [queued, free] = sandbox.accounts();
    if (queued === undefined || free === undefined) throw new Error('two accounts expected');
    for (const account of [queued, free]) {
      const added = await birdfeed(['watchlist', 'add', account.id, '--provider', 'x']);
      expect(added.code, added.stderr).toBe(0);
    }
    const xQueue = await openCrawlQueue({ connection: redis, prefix, provider: 'x' });
    try {
      await enqueueFirstPage(xQueue, {
        provider: 'x',
        userId: queued.id,
        runId: '999999',
        kind: 'backfill',
        page: 0,
      });
      const run = await birdfeed(['crawl', '--once'], {
        REDIS_URL: TEST_REDIS_URL,
        BIRDFEED_QUEUE_PREFIX: prefix,
      });
      expect(run.code, run.stderr).toBe(1);
      expect(run.stdout).toContain(
        `x        ${queued.id} not crawled: a run of this target is queued in Redis (job x.${queued.id}.999999.0): left to the workers`,
      );
      expect(run.stdout).toMatch(new RegExp(`x +${free.id} succeeded`));
      const asked = sandbox.requests().map((request) => request.params);
      expect(JSON.stringify(asked)).not.toContain(queued.id);
    } finally {
      await xQueue.obliterate({ force: true }).catch(() => {});
      await xQueue.close();
    }
  });

  it('says what is wrong, and crawls nothing, when Redis does not answer', async () => {
    const before = sandbox.stats().requests.total;
    const run = await birdfeed(['crawl', '--once', '--user', sandbox.accounts()[0]?.id ?? ''], {
      REDIS_URL: 'redis://127.0.0.1:1',
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('cannot reach Redis at redis://127.0.0.1:1');
    expect(run.stderr).toContain('Unset REDIS_URL');
    expect(sandbox.stats().requests.total).toBe(before);
  });
});
