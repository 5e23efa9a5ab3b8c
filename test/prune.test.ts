import { type Database, migrate, openDatabase, pruneHistory, rowsOf, sql } from '@birdfeed/db';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';
import { runCli } from './support/run-cli.ts';

/**
 * `birdfeed prune`: deletes old bodies, runs and failures, and nothing the crawl or `status`
 * still uses. The rows are named by what each is (old/new, written/invalid, named or not).
 */

let testDb: TestDatabase;
let database: Database;
let env: Record<string, string>;

const OLD = sql`now() - interval '100 days'`;
const NEW = sql`now() - interval '1 day'`;

async function seed(): Promise<void> {
  const db = database.db;
  await db.execute(sql`TRUNCATE raw_pages, crawl_runs, crawl_failures, crawl_checkpoints`);
  await db.execute(sql`INSERT INTO raw_pages (id, provider, user_id, fetched_at, request_url, status, body, error)
    VALUES (1, 'x', 1, ${OLD}, 'http://p/1', 200, repeat('a', 5000), NULL),
           (2, 'x', 1, ${NEW}, 'http://p/2', 200, 'new body', NULL),
           (3, 'x', 1, ${OLD}, 'http://p/3', 200, 'bad, named by an old failure', 'invalid'),
           (4, 'x', 1, ${OLD}, 'http://p/4', 200, 'bad, named by a new failure', 'invalid'),
           (5, 'x', 1, ${OLD}, 'http://p/5', 200, 'bad, named by nothing', 'invalid')`);
  await db.execute(sql`INSERT INTO crawl_failures (id, provider, user_id, error_name, error_message, raw_page_id, failed_at)
    VALUES (1, 'x', 1, 'InvalidResponseError', 'old', 3, ${OLD}),
           (2, 'x', 1, 'InvalidResponseError', 'new', 4, ${NEW})`);
  await db.execute(sql`INSERT INTO crawl_runs (id, provider, user_id, kind, started_at, finished_at, outcome)
    VALUES (1, 'x', 1, 'incremental', ${OLD}, ${OLD}, 'succeeded'),
           (2, 'x', 1, 'incremental', ${OLD}, ${OLD}, 'failed'),
           (3, 'x', 1, 'incremental', ${OLD}, NULL, 'running'),
           (4, 'x', 1, 'incremental', ${NEW}, ${NEW}, 'succeeded'),
           (5, 'x', 2, 'backfill', ${OLD}, ${OLD}, 'succeeded')`);
  // Run 2 is the one x/1's checkpoint points at; run 5 is x/2's only (newest) run.
  await db.execute(
    sql`INSERT INTO crawl_checkpoints (provider, user_id, run_id) VALUES ('x', 1, 2)`,
  );
}

async function ids(table: 'raw_pages' | 'crawl_runs' | 'crawl_failures'): Promise<number[]> {
  const rows = rowsOf<{ id: number }>(
    await database.db.execute(sql`SELECT id::int AS id FROM ${sql.raw(table)} ORDER BY id`),
  );
  return rows.map((row) => row.id);
}

async function everything() {
  return {
    raw: await ids('raw_pages'),
    runs: await ids('crawl_runs'),
    failures: await ids('crawl_failures'),
  };
}

const ALL = ['--raw-pages', '90d', '--runs', '90d', '--failures', '90d'];

beforeAll(async () => {
  testDb = await createTestDatabase('prune');
  database = await openDatabase({ url: testDb.url, maxConnections: 2 });
  await migrate(database.db);
  env = { DATABASE_URL: testDb.url, LOG_LEVEL: 'silent' };
});

afterAll(async () => {
  await database?.close();
  await testDb?.drop();
});

describe('birdfeed prune', () => {
  beforeEach(seed);

  it('--dry-run counts what would go and deletes nothing', async () => {
    const before = await everything();
    const run = await runCli('birdfeed', ['prune', ...ALL, '--dry-run'], env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(
      /raw_pages: would delete 1 body \(\d+(\.\d)? (B|KB)\) fetched before /,
    );
    expect(run.stdout).toMatch(/crawl_runs: would delete 1 run finished before /);
    expect(run.stdout).toMatch(
      /crawl_failures: would delete 1 failure before .*, and 2 invalid bodies \(\d+ B\) only they named/,
    );
    expect(await everything()).toEqual(before);
  });

  it('deletes old written bodies, finished runs no one needs, old failures and the bodies only they name', async () => {
    const run = await runCli('birdfeed', ['prune', ...ALL], env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/raw_pages: deleted 1 body/);
    expect(run.stdout).toMatch(/crawl_runs: deleted 1 run/);
    expect(run.stdout).toMatch(/deleted 1 failure .* and 2 invalid bodies/);
    expect(await everything()).toEqual({
      // 2: new; 4: invalid, named by a failure that stays.
      raw: [2, 4],
      // 2: the checkpoint's run; 3: running; 4: x/1's newest; 5: x/2's only run.
      runs: [2, 3, 4, 5],
      failures: [2],
    });
    // Run again: nothing left to delete.
    const again = await runCli('birdfeed', ['prune', ...ALL], env);
    expect(again.stdout).toMatch(/raw_pages: deleted 0 bodies/);
    expect(await everything()).toEqual({ raw: [2, 4], runs: [2, 3, 4, 5], failures: [2] });
  });

  it('keeps the invalid bodies of a target marked failing, however old, until it is re-enabled', async () => {
    const db = database.db;
    // x/1's reason names raw_pages 3, the only copy of the page it failed on.
    await db.execute(sql`INSERT INTO watch_targets (provider, user_id, state, state_reason)
      VALUES ('x', 1, 'failing', 'the same page came back invalid 3 times in a row (raw_pages 3: bad); fix the schema or normalizer, then: birdfeed watchlist enable 1 --provider x')`);
    try {
      const dry = await runCli('birdfeed', ['prune', '--failures', '90d', '--dry-run'], env);
      expect(dry.stdout).toMatch(/would delete 1 failure .*, and 0 invalid bodies/);
      const run = await runCli('birdfeed', ['prune', '--failures', '90d'], env);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toMatch(/deleted 1 failure .* and 0 invalid bodies/);
      // The failure row goes (the reason keeps its text); the bodies stay.
      expect(await everything()).toMatchObject({ raw: [1, 2, 3, 4, 5], failures: [2] });
      // Re-enabled: its old invalid bodies no kept failure names can go.
      await db.execute(sql`UPDATE watch_targets SET state = 'active', state_reason = NULL
        WHERE provider = 'x' AND user_id = 1`);
      const after = await runCli('birdfeed', ['prune', '--failures', '90d'], env);
      expect(after.stdout).toMatch(/and 2 invalid bodies/);
      expect((await everything()).raw).toEqual([1, 2, 4]);
    } finally {
      await db.execute(sql`DELETE FROM watch_targets WHERE provider = 'x' AND user_id = 1`);
    }
  });

  it('each flag prunes its own table only', async () => {
    const run = await runCli('birdfeed', ['prune', '--runs', '30d'], env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).not.toMatch(/raw_pages|crawl_failures/);
    expect(await everything()).toEqual({
      raw: [1, 2, 3, 4, 5],
      runs: [2, 3, 4, 5],
      failures: [1, 2],
    });
  });

  it.each([
    [[], /nothing to prune: give --raw-pages, --runs, --failures or --metrics/],
    [['--raw-pages', '90'], /--raw-pages "90": must be an age above 0 with a unit/],
    [['--runs', '0d'], /--runs "0d": must be an age above 0/],
    [['--failures=-5d'], /--failures "-5d": must be an age/],
    [['--raw-pages', '90d', '--raw-pages', '30d'], /--raw-pages given twice/],
    [
      ['--runs', '999999d'],
      /--runs "999999d": is more than 36500 days; give an age of at most 36500d \(100 years\)/,
    ],
    [['--raw-pages', '99999999999d'], /--raw-pages "99999999999d": is more than 36500 days/],
    [['--runs', '999999d'.repeat(120)], /--runs "(999999d)+": the unit d is given twice/],
    // Lower-cased, 1M was a minute: every body but the last minute's would have gone.
    [
      ['--raw-pages', '1M', '--dry-run'],
      /--raw-pages "1M": M is a month to some and a minute to others: write m for minutes/,
    ],
    [['--runs', '1d1d'], /--runs "1d1d": the unit d is given twice/],
    [['--raw-pages', '90d', 'now'], /Unexpected argument 'now'/],
  ])('refuses %j naming the flag, exit 2, nothing deleted', async (args, message) => {
    const before = await everything();
    const run = await runCli('birdfeed', ['prune', ...args], env);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).toMatch(/usage: birdfeed prune/);
    expect(await everything()).toEqual(before);
  });

  it('refuses a database without the migrations, naming what to run, and creates nothing', async () => {
    const bare = await createTestDatabase('prune_bare');
    try {
      const run = await runCli('birdfeed', ['prune', '--runs', '1d'], {
        DATABASE_URL: bare.url,
        LOG_LEVEL: 'silent',
      });
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/^prune: .*birdfeed migrate/m);
      expect(run.stderr).not.toMatch(/\n\s+at /);
    } finally {
      await bare.drop();
    }
  });

  it('walks a table in batches to the end', async () => {
    const db = database.db;
    await db.execute(sql`INSERT INTO raw_pages (id, provider, user_id, fetched_at, request_url, status, body)
      SELECT 100 + g, 'x', 1, now() - (200 - g) * interval '1 day', 'http://p', 200, 'b'
      FROM generate_series(1, 130) g`);
    // 100 + 1..100 are 199..100 days old; 100 + 101..130 are 99..70 days old.
    const result = await pruneHistory(db, {
      rawPagesBefore: new Date(Date.now() - 99.5 * 86_400_000),
      batchSize: 7,
    });
    expect(result.rawPages?.rows).toBe(101); // the 100 generated + seed row 1
    const left = await ids('raw_pages');
    expect(left.filter((id) => id > 100)).toEqual(Array.from({ length: 30 }, (_, i) => 201 + i));
  });

  it("--metrics keeps each tweet's and user's last counts before the cut-off and every later change", async () => {
    const db = database.db;
    await db.execute(sql`TRUNCATE tweet_metrics, user_metrics`);
    const days = (n: number) => sql`date_trunc('second', now()) - ${n} * interval '1 day'`;
    // Tweet 1: three changes before the 90-day cut-off and one after; tweet 2: one old row
    // only (its counts never changed since); tweets 3..40 in batches below.
    await db.execute(sql`INSERT INTO tweet_metrics (tweet_id, observed_at, like_count) VALUES
      (1, ${days(200)}, 1), (1, ${days(150)}, 2), (1, ${days(100)}, 3), (1, ${days(10)}, 4),
      (2, ${days(300)}, 7)`);
    await db.execute(sql`INSERT INTO tweet_metrics (tweet_id, observed_at, like_count)
      SELECT 2 + t, now() - d * interval '1 day' - t * interval '1 second', d
      FROM generate_series(1, 38) t, generate_series(95, 97) d`);
    await db.execute(sql`INSERT INTO user_metrics (user_id, observed_at, followers_count) VALUES
      (9, ${days(120)}, 10), (9, ${days(91)}, 11), (9, ${days(89)}, 12)`);
    const history = async () =>
      rowsOf<{ k: string; days: number; n: number }>(
        await db.execute(sql`SELECT tweet_id::text AS k, round(extract(epoch FROM now() - observed_at) / 86400)::int AS days, like_count::int AS n
          FROM tweet_metrics WHERE tweet_id <= 2
          UNION ALL SELECT 'u' || user_id, round(extract(epoch FROM now() - observed_at) / 86400)::int, followers_count::int
          FROM user_metrics ORDER BY 1, 2 DESC`),
      );
    const before = await history();

    const dry = await runCli('birdfeed', ['prune', '--metrics', '90d', '--dry-run'], env);
    expect(dry.stderr).toBe('');
    // Tweet 1: 200 and 150 days; tweets 3..40: their 97- and 96-day rows (76); the user: 120.
    expect(dry.stdout).toMatch(
      /would delete 78 tweet_metrics rows and 1 user_metrics row observed before .*, keeping each tweet's and user's last one before it/,
    );
    expect(await history()).toEqual(before);

    const result = await pruneHistory(db, {
      metricsBefore: new Date(Date.now() - 90 * 86_400_000),
      batchSize: 5,
    });
    expect(result.tweetMetrics?.rows).toBe(78);
    expect(result.userMetrics?.rows).toBe(1);
    expect(await history()).toEqual([
      { k: '1', days: 100, n: 3 },
      { k: '1', days: 10, n: 4 },
      { k: '2', days: 300, n: 7 },
      { k: 'u9', days: 91, n: 11 },
      { k: 'u9', days: 89, n: 12 },
    ]);
    const [left] = rowsOf<{ n: number; newest: number }>(
      await db.execute(
        sql`SELECT count(*)::int AS n, min(like_count)::int AS newest FROM tweet_metrics WHERE tweet_id > 2`,
      ),
    );
    expect(left).toEqual({ n: 38, newest: 95 });
    // Nothing else is touched.
    expect((await everything()).raw).toEqual([1, 2, 3, 4, 5]);
  });
});
