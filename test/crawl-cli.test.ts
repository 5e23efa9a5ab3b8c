import { migrate, openDatabase } from '@birdfeed/db';
import { openCrawlQueue } from '@birdfeed/jobs';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSandbox, startSandbox } from '../apps/sandbox/src/index.ts';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';
import { TEST_REDIS_URL, testRedisPrefix } from './support/redis.ts';
import { type CliRun, runCli } from './support/run-cli.ts';

/**
 * The crawl commands as a user runs them (a child process per command, the sandbox over HTTP,
 * a database of its own): exit codes, output, and that bad input writes nothing.
 */

let sandbox: RunningSandbox;
let testDb: TestDatabase;
let pool: pg.Pool;

function birdfeed(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return runCli('command', args, {
    DATABASE_URL: testDb.url,
    X_API_BASE_URL: sandbox.url,
    X_BEARER_TOKEN: 'sandbox-x-token',
    AGNTDATA_BASE_URL: sandbox.url,
    AGNTDATA_API_KEY: 'sandbox-agntdata-key',
    ...env,
  });
}

async function targetCount(): Promise<number> {
  return (
    (await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM watch_targets')).rows[0]?.n ??
    -1
  );
}

beforeAll(async () => {
  sandbox = await startSandbox({
    accounts: 3,
    tweetsPerAccount: 120,
    specialAccounts: false,
    accountStatus: (index) => (index === 2 ? 'suspended' : 'active'),
    activity: 'silent',
    frozen: true,
    epochMs: Date.UTC(2026, 5, 1),
    agntdataRequestsPerMinute: 100_000,
  });
  testDb = await createTestDatabase('crawl_cli');
  pool = new pg.Pool({ connectionString: testDb.url, max: 2 });
  // Dropping the database at the end terminates idle clients; that is expected.
  pool.on('error', () => {});
});

afterAll(async () => {
  await pool?.end();
  await testDb?.drop();
  await sandbox?.stop();
});

describe('birdfeed watchlist / crawl --once / status', () => {
  it('says to migrate when the tables are missing', async () => {
    const run = await birdfeed(['crawl', '--once']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('birdfeed migrate');
    const database = await openDatabase({ url: testDb.url });
    await migrate(database.db);
    await database.close();
  });

  it('refuses bad input with the argument named, and writes nothing', async () => {
    const cases: Array<[string[], string]> = [
      [['watchlist', 'add', '@jack'], '<user_id>'],
      [['watchlist', 'add', '12.5'], '<user_id>'],
      [['watchlist', 'add', '99999999999999999999'], '<user_id>'],
      [['watchlist', 'add', '123', '--every', '15'], '--every'],
      [['watchlist', 'add', '123', '--every', 'soon'], '--every'],
      [['watchlist', 'add', '123', '--provider', 'mastodon'], '--provider'],
      [['watchlist', 'add', '123', '--backfill', '5000'], '--backfill'],
      [['watchlist', 'add', '123', '--tags', ',,,'], '--tags: no tag given'],
      [['watchlist', 'add', '123', '--json'], 'does not take --json'],
      [['watchlist', 'disable', '123', '--every', '5m'], 'does not take --every'],
      [['watchlist', 'enable', '123', '--tags', 'bad tag!'], 'does not take --tags'],
      [['watchlist', 'list', '--backfill', '9'], 'does not take --backfill'],
    ];
    const runs = await Promise.all(cases.map(([args]) => birdfeed(args)));
    runs.forEach((run, i) => {
      expect(run.code, cases[i]?.[0].join(' ')).toBe(2);
      expect(run.stderr).toContain(cases[i]?.[1]);
    });
    expect(await targetCount()).toBe(0);
  });

  it('crawls the watchlist once: exit 1 while one account is unavailable, 0 when all succeed', async () => {
    const [a, b, suspended] = sandbox.accounts();
    for (const [id, extra] of [
      [a?.id, ['--provider', 'x', '--every', '1h']],
      [a?.id, ['--provider', 'agntdata', '--tags', 'demo,media']],
      [b?.id, ['--backfill', '50']],
      [suspended?.id, []],
    ] as const) {
      const run = await birdfeed(['watchlist', 'add', id as string, ...extra]);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toMatch(/^added: /);
    }
    expect(await targetCount()).toBe(4);

    const first = await birdfeed(['crawl', '--once']);
    expect(first.code, first.stderr).toBe(1);
    const lines = first.stdout.trim().split('\n');
    expect(lines.filter((line) => / succeeded /.test(line))).toHaveLength(3);
    expect(lines.find((line) => line.includes(suspended?.id as string))).toMatch(/unavailable/);
    expect(first.stdout).toContain(`x        ${b?.id} succeeded backfill pages=1 read=50`);
    // A deeper backfill after the first window is kept but reads nothing older: said so.
    const deeper = await birdfeed(['watchlist', 'add', b?.id as string, '--backfill', '500']);
    expect(deeper.code, deeper.stderr).toBe(0);
    expect(deeper.stdout).toMatch(/^updated: .*backfill 500/);
    expect(deeper.stderr).toContain(
      `note: x/${b?.id} finished its backfill already: --backfill 500 is kept but fetches no older tweets`,
    );
    const again = await birdfeed(['watchlist', 'add', b?.id as string, '--every', '20m']);
    expect(again.stderr).toBe('');

    // Nothing is due any more: exit 0, and the suspended account is not asked for again.
    const before = sandbox.requests().length;
    const second = await birdfeed(['crawl', '--once']);
    expect(second.code, second.stdout + second.stderr).toBe(0);
    expect(second.stdout).toContain('no targets due');
    expect(sandbox.requests().length).toBe(before);

    // One target on demand, due or not.
    const one = await birdfeed(['crawl', '--once', '--user', a?.id as string, '--provider', 'x']);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toMatch(new RegExp(`x +${a?.id} succeeded incremental pages=1 read=0`));

    const status = await birdfeed(['status', '--json']);
    expect(status.code, status.stderr).toBe(0);
    const report = JSON.parse(status.stdout) as {
      targets: Array<{
        provider: string;
        userId: string;
        state: string;
        checkpoint: { sinceId: string | null } | null;
        lastRun: { outcome: string } | null;
      }>;
      queues: { configured: boolean };
    };
    const truthA = sandbox.truth(a?.id as string);
    expect(report.targets.find((t) => t.provider === 'x' && t.userId === a?.id)).toMatchObject({
      state: 'active',
      checkpoint: { sinceId: truthA.tweets[0]?.id },
      lastRun: { outcome: 'succeeded' },
    });
    expect(report.targets.find((t) => t.userId === suspended?.id)).toMatchObject({
      state: 'suspended',
      lastRun: { outcome: 'unavailable' },
    });
    expect(report.queues.configured).toBe(false);
    // Each crawled target carries the account's handle, for both providers.
    const handles = await pool.query(
      `SELECT w.provider, w.username FROM watch_targets w WHERE w.user_id = $1 ORDER BY provider`,
      [a?.id],
    );
    expect(handles.rows).toEqual([
      { provider: 'agntdata', username: a?.username },
      { provider: 'x', username: a?.username },
    ]);

    const text = await birdfeed(['status']);
    expect(text.stdout).toContain('SUSPENDED');
    expect(text.stdout).toContain('queues: not configured');

    // Re-enabling a marked account makes it active and due again.
    const enable = await birdfeed(['watchlist', 'enable', suspended?.id as string]);
    expect(enable.code).toBe(0);
    const state = await pool.query(
      'SELECT state, enabled, next_due_at <= now() AS due FROM watch_targets WHERE user_id = $1',
      [suspended?.id],
    );
    expect(state.rows[0]).toEqual({ state: 'active', enabled: true, due: true });
  });

  it('names the provider in the fix for an account not watched on the one asked for', async () => {
    const [, b] = sandbox.accounts();
    const before = await targetCount();
    const run = await birdfeed([
      'crawl',
      '--once',
      '--user',
      b?.id as string,
      '--provider',
      'agntdata',
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `crawl: ${b?.id} is not on the watchlist on agntdata (add it with \`birdfeed watchlist add ${b?.id} --provider agntdata\`)\n`,
    );
    expect(run.stdout).toBe('');
    expect(await targetCount()).toBe(before);
  });

  it('does not start agntdata runs once the daily budget is spent', async () => {
    await pool.query(
      `UPDATE watch_targets SET next_due_at = now() - interval '1 second' WHERE provider = 'agntdata'`,
    );
    const run = await birdfeed(['crawl', '--once', '--provider', 'agntdata'], {
      AGNTDATA_DAILY_BUDGET_CENTS: '1',
    });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('daily budget reached');
  });

  it('shows each queue with its depth, workers and limiter when REDIS_URL is set', async () => {
    const prefix = testRedisPrefix('crawl-status');
    const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 3 });
    const queue = await openCrawlQueue({ connection: redis, prefix, provider: 'x' });
    try {
      await queue.add(
        'crawl-page',
        { provider: 'x', userId: '1', runId: '1', kind: 'incremental', page: 0 },
        { delay: 60_000 },
      );
      // No worker has ever started on this queue: the job waits for nothing, and no limit is
      // recorded (the workers write it when they start).
      await queue.add('crawl-page', {
        provider: 'x',
        userId: '2',
        runId: '2',
        kind: 'incremental',
        page: 0,
      });
      const run = await birdfeed(['status', '--json'], {
        REDIS_URL: TEST_REDIS_URL,
        BIRDFEED_QUEUE_PREFIX: prefix,
      });
      expect(run.code, run.stderr).toBe(0);
      const report = JSON.parse(run.stdout) as {
        queues: {
          configured: boolean;
          queues: Array<{ name: string; delayed: number; waiting: number }>;
        };
      };
      expect(report.queues.configured).toBe(true);
      expect(report.queues.queues).toEqual([
        expect.objectContaining({
          name: 'crawl.x.default',
          delayed: 1,
          waiting: 1,
          workers: 0,
          waitingWithoutWorker: true,
          limiter: expect.objectContaining({ max: null }),
        }),
      ]);
      const text = await birdfeed(['status'], {
        REDIS_URL: TEST_REDIS_URL,
        BIRDFEED_QUEUE_PREFIX: prefix,
      });
      expect(text.stdout).toContain(
        'crawl.x.default: waiting 1, active 0, delayed 1, failed 0, workers 0; limiter unknown (set by the workers at start), NO WORKER: 1 job waiting for `birdfeed worker`',
      );
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
  });
});

describe('crawl --once next to another process crawling the same target', () => {
  let own: TestDatabase;
  let ownPool: pg.Pool;
  const run = (args: string[], env: Record<string, string> = {}) =>
    birdfeed(args, { DATABASE_URL: own.url, ...env });
  const xRequestsFor = (userId: string, afterSeq: number) =>
    sandbox
      .requests(afterSeq)
      .filter((entry) => entry.provider === 'x' && entry.params.user_id === userId);
  const lastSeq = () => sandbox.requests().at(-1)?.seq ?? 0;
  const sinceIdOf = async (userId: string) =>
    (
      await ownPool.query<{ since_id: string | null }>(
        `SELECT since_id::text AS since_id FROM crawl_checkpoints WHERE provider = 'x' AND user_id = $1`,
        [userId],
      )
    ).rows[0]?.since_id;
  /** What a worker leaves while it crawls: a running run its checkpoint names, just written. */
  const workerRunOf = async (userId: string) =>
    (
      await ownPool.query<{ id: string }>(
        `WITH run AS (
           INSERT INTO crawl_runs (provider, user_id, kind) VALUES ('x', $1, 'incremental')
           RETURNING id)
         UPDATE crawl_checkpoints SET run_id = (SELECT id FROM run), updated_at = now()
         WHERE provider = 'x' AND user_id = $1 RETURNING run_id::text AS id`,
        [userId],
      )
    ).rows[0]?.id as string;
  const runRow = async (id: string) =>
    (
      await ownPool.query<{ outcome: string; requests: number }>(
        'SELECT outcome, requests FROM crawl_runs WHERE id = $1',
        [id],
      )
    ).rows[0];

  beforeAll(async () => {
    own = await createTestDatabase('crawl_cli_busy');
    const database = await openDatabase({ url: own.url });
    await migrate(database.db);
    await database.close();
    ownPool = new pg.Pool({ connectionString: own.url, max: 2 });
    ownPool.on('error', () => {});
    const [a, b] = sandbox.accounts();
    for (const id of [a?.id, b?.id]) {
      expect((await run(['watchlist', 'add', id as string, '--backfill', '20'])).code).toBe(0);
    }
    const first = await run(['crawl', '--once']);
    expect(first.code, first.stdout + first.stderr).toBe(0);
  });

  afterAll(async () => {
    await ownPool?.end();
    await own?.drop();
  });

  it('leaves a run with fresh activity alone (busy, no request), and takes over a stale one', async () => {
    const [a, b] = sandbox.accounts();
    const busyId = a?.id as string;
    const runId = await workerRunOf(busyId);
    await ownPool.query(`UPDATE watch_targets SET next_due_at = now() - interval '1 second'`);

    const seq = lastSeq();
    const due = await run(['crawl', '--once']);
    expect(due.code, due.stdout + due.stderr).toBe(1);
    expect(due.stdout).toContain(`x        ${busyId} not crawled: busy: run #${runId} `);
    expect(due.stdout).toMatch(new RegExp(`x +${b?.id} succeeded incremental`));
    expect(due.stdout).toContain('1 not crawled');
    const one = await run(['crawl', '--once', '--user', busyId, '--json']);
    expect(one.code).toBe(1);
    const report = JSON.parse(one.stdout) as {
      targets: unknown[];
      skipped: Array<{ userId: string; reason: string }>;
    };
    expect(report.targets).toEqual([]);
    expect(report.skipped).toEqual([
      expect.objectContaining({ userId: busyId, reason: expect.stringMatching(/^busy: /) }),
    ]);
    expect(xRequestsFor(busyId, seq)).toEqual([]);
    expect(await runRow(runId)).toEqual({ outcome: 'running', requests: 0 });

    // A crashed worker's run: nothing for an hour. The one-shot adopts and finishes it.
    await ownPool.query(
      `UPDATE crawl_runs SET started_at = now() - interval '1 hour' WHERE id = $1`,
      [runId],
    );
    await ownPool.query(
      `UPDATE crawl_checkpoints SET updated_at = now() - interval '1 hour' WHERE user_id = $1`,
      [busyId],
    );
    const adopted = await run(['crawl', '--once', '--user', busyId, '--provider', 'x']);
    expect(adopted.code, adopted.stdout + adopted.stderr).toBe(0);
    expect(adopted.stdout).toMatch(new RegExp(`x +${busyId} succeeded incremental pages=1`));
    expect(await runRow(runId)).toEqual({ outcome: 'succeeded', requests: 1 });
    expect(xRequestsFor(busyId, seq)).toHaveLength(1);
  });

  it('status tells a backfill that found nothing from one still pending', async () => {
    for (const id of ['4242', '4343']) {
      expect((await run(['watchlist', 'add', id, '--every', '1d'])).code).toBe(0);
    }
    // 4242's first window read an empty timeline; 4343's is under way.
    await ownPool.query(
      `INSERT INTO crawl_checkpoints (provider, user_id, backfill_done, window_started_at, window_pages)
       VALUES ('x', 4242, true, NULL, 0), ('x', 4343, false, now(), 1)`,
    );
    const text = await run(['status']);
    expect(text.code, text.stderr).toBe(0);
    const block = (id: string) => text.stdout.slice(text.stdout.indexOf(`x        ${id}`));
    expect(block('4242')).toMatch(
      /^.*\n +checkpoint: since_id - \(backfill done, nothing to read yet\)\n/,
    );
    expect(block('4343')).toMatch(
      /^.*\n +checkpoint: since_id - \(backfill pending\), window open/,
    );
    await ownPool.query(`DELETE FROM crawl_checkpoints WHERE user_id IN (4242, 4343)`);
    for (const id of ['4242', '4343']) await run(['watchlist', 'disable', id]);
  });

  it('reports the stored since_id for a target that fails or is disabled, not none', async () => {
    const [, b] = sandbox.accounts();
    const userId = b?.id as string;
    const sinceId = await sinceIdOf(userId);
    expect(sinceId).toMatch(/^\d+$/);

    const rejected = await run(['crawl', '--once', '--user', userId, '--provider', 'x', '--json'], {
      X_BEARER_TOKEN: 'a-token-the-sandbox-refuses',
    });
    expect(rejected.code).toBe(1);
    const report = JSON.parse(rejected.stdout) as {
      targets: Array<{ outcome: string; sinceId: string | null; errorName: string }>;
    };
    expect(report.targets).toEqual([
      expect.objectContaining({ outcome: 'failed', sinceId, errorName: 'UnauthorizedError' }),
    ]);

    expect((await run(['watchlist', 'disable', userId])).code).toBe(0);
    const disabled = await run(['crawl', '--once', '--user', userId, '--provider', 'x']);
    expect(disabled.code).toBe(1);
    expect(disabled.stdout).toContain(`since_id=${sinceId} error: disabled (enable it with`);
    expect(await sinceIdOf(userId)).toBe(sinceId);
  });
});
