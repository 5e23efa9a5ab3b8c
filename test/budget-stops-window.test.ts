import { crawlTargetToEnd } from '@birdfeed/crawl';
import { type Database, getCheckpoint, listGaps, rowsOf, sql, upsertTarget } from '@birdfeed/db';
import { compareIds } from '@birdfeed/model';
import type { TimelineClient } from '@birdfeed/providers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningSandbox } from '../apps/sandbox/src/index.ts';
import type { TestDatabase } from './support/postgres.ts';
import { runCli } from './support/run-cli.ts';
import { openSandboxDatabase, type SandboxDatabase } from './support/sandbox-database.ts';

/**
 * AGNTDATA_DAILY_BUDGET_CENTS stops a window part-way (checked before every page). Its cursor
 * used to be kept "to resume in a later run" — the next UTC day, long after agntdata's
 * continuation token expired (the sandbox's: 30 min): the window restarted from the top and
 * each day's budget bought the same top pages again; a backfill deeper than one day's budget
 * never finished. A backfill window is now completed with what it read, the rest a `budget`
 * gap. An incremental window is read again from the top by the next day's run (agntdata still
 * serves what it did not read: a gap would lose it), unless it already took half the day's
 * budget or more — reading it again would not fit — and then it is completed with a gap too.
 */

let opened: SandboxDatabase;
let testDb: TestDatabase;
let database: Database;
let sandbox: RunningSandbox;
let client: TimelineClient;

const DAY = 86_400_000;

beforeAll(async () => {
  opened = await openSandboxDatabase('budget_stops_window', {
    seed: 'budget-stops-window',
    accounts: 3,
    tweetsPerAccount: 600,
    activity: (index) => (index === 0 ? 'silent' : 'steady'),
  });
  ({ testDb, database, sandbox, agntdata: client } = opened);
});

afterAll(async () => {
  await opened?.close();
});

async function storedOf(userId: string): Promise<string[]> {
  return rowsOf<{ id: string }>(
    await database.db.execute(
      sql`select id::text as id from tweets where author_id = ${userId}::bigint order by id`,
    ),
  ).map((row) => row.id);
}

async function spentOn(day: string): Promise<number> {
  const [row] = rowsOf<{ cents: number | null }>(
    await database.db.execute(
      sql`select sum(cost_cents)::int as cents from provider_spend where day = ${day}::date`,
    ),
  );
  return row?.cents ?? 0;
}

describe('a window the daily budget stops part-way', () => {
  it('completes a backfill at the depth read, with a budget gap, and buys none of it again', async () => {
    const { db } = database;
    const userId = sandbox.accounts()[0]?.id as string;
    const key = { provider: 'agntdata', userId } as const;
    await upsertTarget(db, { ...key, backfillDepth: 200 });
    const day0 = Date.parse('2030-01-01T12:00:00Z');
    const first = await crawlTargetToEnd({
      db,
      client,
      target: key,
      dailyBudgetCents: 4,
      now: () => new Date(day0),
    });
    expect(first.outcome).toBe('cancelled');
    expect(first.pages).toBe(4);
    const stored = await storedOf(userId);
    expect(stored).toHaveLength(80);
    const checkpoint = await getCheckpoint(db, key);
    expect(checkpoint).toMatchObject({ backfillDone: true, cursor: null, windowStartedAt: null });
    expect(checkpoint?.sinceId).toBe(stored.at(-1));
    const gaps = await listGaps(db, key);
    expect(gaps.map((gap) => [gap.reason, gap.sinceId, gap.oldestId])).toEqual([
      ['budget', null, stored[0]],
    ]);
    expect(first.gaps).toEqual([{ reason: 'budget', sinceId: null, oldestId: stored[0] }]);
    const [run] = rowsOf<{ outcome: string; error: string }>(
      await db.execute(
        sql`select outcome, error from crawl_runs where id = ${first.runId}::bigint`,
      ),
    );
    expect(run?.outcome).toBe('cancelled');
    expect(run?.error).toContain("'budget' gap");
    // What a user reading `birdfeed status` sees.
    const status = await runCli('birdfeed', ['status', '--provider', 'agntdata'], {
      DATABASE_URL: testDb.url,
      LOG_LEVEL: 'silent',
    });
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain('(budget: the daily budget stopped the window');

    // The next UTC day (the cursor would long have expired): an incremental window of one page.
    sandbox.clock.advance(DAY);
    const second = await crawlTargetToEnd({
      db,
      client,
      target: key,
      dailyBudgetCents: 4,
      now: () => new Date(day0 + DAY),
    });
    expect(second.outcome).toBe('succeeded');
    expect(second.kind).toBe('incremental');
    expect(await spentOn('2030-01-02')).toBe(1);
    expect(await storedOf(userId)).toEqual(stored);
  });

  it('resets an incremental window it stops early in the budget: the next day reads all of it', async () => {
    const { db } = database;
    const userId = sandbox.accounts()[2]?.id as string;
    const key = { provider: 'agntdata', userId } as const;
    await upsertTarget(db, { ...key, backfillDepth: 20 });
    const day = Date.parse('2032-01-01T12:00:00Z');
    await crawlTargetToEnd({ db, client, target: key, now: () => new Date(day) });
    const since = (await getCheckpoint(db, key))?.sinceId as string;
    expect(since).not.toBeNull();
    // A week of a steady account's posts: several pages of media posts.
    sandbox.clock.advance(7 * DAY);
    // Other targets took 38 of the day's 40 cents: the window gets 2 pages, far from half.
    await db.execute(sql`insert into provider_spend (provider, day, requests, cost_cents)
      values ('agntdata', '2032-01-02', 38, 38)`);
    const stopped = await crawlTargetToEnd({
      db,
      client,
      target: key,
      dailyBudgetCents: 40,
      now: () => new Date(day + DAY),
    });
    expect(stopped.outcome).toBe('cancelled');
    expect(stopped.pages).toBe(2);
    expect(stopped.gaps).toEqual([]);
    const checkpoint = await getCheckpoint(db, key);
    // The window keeps its start: read again once, not every day (test/budget-reread-once).
    expect(checkpoint).toMatchObject({
      cursor: null,
      sinceId: since,
      windowStartedAt: new Date(day + DAY),
    });
    expect(await listGaps(db, key)).toEqual([]);
    const [run] = rowsOf<{ outcome: string; error: string }>(
      await db.execute(
        sql`select outcome, error from crawl_runs where id = ${stopped.runId}::bigint`,
      ),
    );
    expect(run?.outcome).toBe('cancelled');
    expect(run?.error).toContain('the window was stopped after 2 pages');
    expect(run?.error).toContain('reads it again from the top');
    // The next day, with the budget to spare: the window from the top reaches every tweet.
    const next = await crawlTargetToEnd({
      db,
      client,
      target: key,
      dailyBudgetCents: 40,
      now: () => new Date(day + 2 * DAY),
    });
    expect(next.outcome).toBe('succeeded');
    expect(next.pages).toBeGreaterThan(2);
    expect(await spentOn('2032-01-03')).toBe(next.pages);
    const served = sandbox
      .truth(userId)
      .tweets.filter((tweet) => tweet.media.length > 0 && compareIds(tweet.id, since) > 0)
      .map((tweet) => tweet.id)
      .sort(compareIds);
    const stored = (await storedOf(userId)).filter((id) => compareIds(id, since) > 0);
    expect(stored).toEqual(served);
    expect(await listGaps(db, key)).toEqual([]);
  });

  it('completes an incremental window that took half the budget or more, the unread part a gap', async () => {
    const { db } = database;
    const userId = sandbox.accounts()[1]?.id as string;
    const key = { provider: 'agntdata', userId } as const;
    await upsertTarget(db, { ...key, backfillDepth: 20 });
    const day = Date.parse('2031-01-01T12:00:00Z');
    await crawlTargetToEnd({ db, client, target: key, now: () => new Date(day) });
    const since = (await getCheckpoint(db, key))?.sinceId as string;
    expect(since).not.toBeNull();
    // A month of a steady account's posts (the seed's: well over 3 pages of media posts). The
    // window takes the day's whole budget (2 pages): reading it again the next day would buy
    // the same 2 pages and stop there again, so what it did not read is a gap.
    sandbox.clock.advance(30 * DAY);
    const stopped = await crawlTargetToEnd({
      db,
      client,
      target: key,
      dailyBudgetCents: 2,
      now: () => new Date(day + DAY),
    });
    expect(stopped.outcome).toBe('cancelled');
    expect(stopped.pages).toBe(2);
    const read = (await storedOf(userId)).filter((id) => compareIds(id, since) > 0);
    expect(read).toHaveLength(40);
    const checkpoint = await getCheckpoint(db, key);
    expect(checkpoint).toMatchObject({ cursor: null, sinceId: read.at(-1) });
    const gaps = await listGaps(db, key);
    expect(gaps.map((gap) => [gap.reason, gap.sinceId, gap.oldestId])).toEqual([
      ['budget', since, read[0]],
    ]);
    // The next day's run starts from the new since_id: nothing read is bought again.
    const next = await crawlTargetToEnd({
      db,
      client,
      target: key,
      dailyBudgetCents: 2,
      now: () => new Date(day + 2 * DAY),
    });
    expect(next.outcome).toBe('succeeded');
    expect(next.pages).toBe(1);
    expect(next.tweetsNew).toBe(0);
  });
});
