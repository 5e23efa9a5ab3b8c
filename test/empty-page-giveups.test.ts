import { type CrawlLogger, crawlOnce, EMPTY_GIVEUPS_BEFORE_FAILING } from '@birdfeed/crawl';
import {
  claimDueTargets,
  type Database,
  migrate,
  openDatabase,
  setTargetEnabled,
  statusReport,
  upsertTarget,
} from '@birdfeed/db';
import { createXClient, type TimelineClient } from '@birdfeed/providers';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSandbox, startSandbox } from '../apps/sandbox/src/index.ts';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';
import { runCli } from './support/run-cli.ts';

/**
 * A backfill that only ever gets empty pages (each with a next_token) from the sandbox over
 * HTTP, crawled by the one-shot's crawlOnce: every run used to end 'succeeded' with nothing
 * said, no gap, "backfill pending" in status, and buy the same 10 pages again every interval.
 */

let sandbox: RunningSandbox;
let testDb: TestDatabase;
let database: Database;
let pool: pg.Pool;
let x: TimelineClient;

beforeAll(async () => {
  sandbox = await startSandbox({
    accounts: 1,
    tweetsPerAccount: 60,
    specialAccounts: false,
    activity: 'silent',
    frozen: true,
    epochMs: Date.UTC(2026, 5, 1),
    xRateLimit: 100_000,
    shortPageRate: 0,
    // Every X page is empty and hands out a next_token: the window never lists a tweet.
    emptyPageRate: 1,
  });
  testDb = await createTestDatabase('empty_giveups');
  database = await openDatabase({ url: testDb.url });
  await migrate(database.db);
  pool = new pg.Pool({ connectionString: testDb.url, max: 2 });
  // Dropping the database at the end terminates idle clients; that is expected.
  pool.on('error', () => {});
  x = createXClient({ baseUrl: sandbox.url, bearerToken: 'sandbox-x-token' });
});

afterAll(async () => {
  await x?.close();
  await pool?.end();
  await database?.close();
  await testDb?.drop();
  await sandbox?.stop();
});

/** Captures what the crawl logs at warn and error, as the worker's and crawl --once's pino would. */
function captureLogger(): { logger: CrawlLogger; lines: Array<{ level: string; msg: string }> } {
  const lines: Array<{ level: string; msg: string }> = [];
  return {
    lines,
    logger: {
      debug() {},
      info() {},
      warn: (_object, msg) => lines.push({ level: 'warn', msg: msg ?? '' }),
      error: (_object, msg) => lines.push({ level: 'error', msg: msg ?? '' }),
    },
  };
}

describe('a backfill given up on empty pages (sandbox over HTTP)', () => {
  it('says so on each run and in the log, shows the count in status, and the third marks the target failing: no request after it until watchlist enable', async () => {
    const db = database.db;
    const [account] = sandbox.accounts();
    if (account === undefined) throw new Error('the sandbox has no account');
    const key = { provider: 'x', userId: account.id } as const;
    await upsertTarget(db, { ...key, backfillDepth: 20 });
    const requests = () => sandbox.stats().requests.total;

    for (let inARow = 1; inARow <= EMPTY_GIVEUPS_BEFORE_FAILING; inARow += 1) {
      const before = requests();
      const { logger, lines } = captureLogger();
      const result = await crawlOnce({ db, clients: { x }, targets: [key], logger });
      const [summary] = result.targets;
      expect(summary).toMatchObject({
        outcome: 'succeeded',
        kind: 'backfill',
        pages: 10,
        tweetsNew: 0,
        gaps: [],
        emptyGiveUp: { inARow },
      });
      expect(summary?.error).toContain('gave up after 10 empty pages in a row');
      // 10 requests a run, whatever the provider keeps handing out.
      expect(requests() - before).toBe(10);
      expect(lines).toContainEqual({
        level: 'warn',
        msg: 'crawl: window given up on empty pages before it listed any tweet; nothing moved, the next run asks again',
      });
      const failingLogged = lines.some(
        (line) =>
          line.level === 'error' &&
          line.msg === 'crawl: target marked failing; it is not crawled again until re-enabled',
      );
      expect(failingLogged).toBe(inARow === EMPTY_GIVEUPS_BEFORE_FAILING);
      const [run] = (
        await pool.query<{ outcome: string; error: string | null }>(
          'SELECT outcome, error FROM crawl_runs WHERE id = $1',
          [summary?.runId],
        )
      ).rows;
      expect(run?.outcome).toBe('succeeded');
      expect(run?.error).toBe(summary?.error);
      const [status] = (await statusReport(db)).targets;
      expect(status?.checkpoint).toMatchObject({ sinceId: null, emptyGiveUps: inARow });
      expect(status?.state).toBe(inARow < EMPTY_GIVEUPS_BEFORE_FAILING ? 'active' : 'failing');
    }

    const [failing] = (await statusReport(db)).targets;
    expect(failing?.stateReason).toContain(`birdfeed watchlist enable ${account.id} --provider x`);
    // What `birdfeed status` prints (a child process, as a user runs it).
    const shown = await runCli('command', ['status'], { DATABASE_URL: testDb.url });
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('FAILING (3 runs in a row gave up after 10 empty pages');
    expect(shown.stdout).toContain(
      'gave up:    3 runs in a row on 10 empty pages before any tweet was listed',
    );

    // Due again, it is neither claimed nor crawled: not one more request.
    await pool.query(
      "UPDATE watch_targets SET next_due_at = now() - interval '1 hour' WHERE user_id = $1",
      [account.id],
    );
    const before = requests();
    const claimed = await claimDueTargets(db, {
      limit: 10,
      now: new Date(Date.now() + 86_400_000),
    });
    expect(claimed).toEqual([]);
    const due = await crawlOnce({ db, clients: { x } });
    expect(due.targets).toEqual([]);
    expect(requests()).toBe(before);

    // `watchlist enable` clears the count with the state: three more give-ups to be marked again.
    await setTargetEnabled(db, key, true);
    const [enabled] = (await statusReport(db)).targets;
    expect(enabled).toMatchObject({ state: 'active', checkpoint: { emptyGiveUps: 0 } });
    const again = await crawlOnce({ db, clients: { x }, targets: [key] });
    expect(again.targets[0]).toMatchObject({ emptyGiveUp: { inARow: 1, failing: null } });
    expect(requests() - before).toBe(10);
  });
});
