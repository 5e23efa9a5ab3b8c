import { crawlTargetToEnd } from '@birdfeed/crawl';
import { type Database, getCheckpoint, listGaps, rowsOf, sql, upsertTarget } from '@birdfeed/db';
import { compareIds } from '@birdfeed/model';
import { createAgntdataClient, type TimelineClient } from '@birdfeed/providers';
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
 * never finished. The window is now completed with what it read, the rest a `budget` gap.
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
    accounts: 2,
    tweetsPerAccount: 600,
    activity: (index) => (index === 0 ? 'silent' : 'steady'),
  });
  ({ testDb, database, sandbox } = opened);
  client = createAgntdataClient({
    baseUrl: sandbox.url,
    apiKey: sandbox.agntdataApiKeys[0] ?? 'sandbox-agntdata-key',
    limit: 20,
  });
});

afterAll(async () => {
  await client?.close();
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

  it('moves since_id past an incremental window it stops, the unread part a gap', async () => {
    const { db } = database;
    const userId = sandbox.accounts()[1]?.id as string;
    const key = { provider: 'agntdata', userId } as const;
    await upsertTarget(db, { ...key, backfillDepth: 20 });
    const day = Date.parse('2031-01-01T12:00:00Z');
    await crawlTargetToEnd({ db, client, target: key, now: () => new Date(day) });
    const since = (await getCheckpoint(db, key))?.sinceId as string;
    expect(since).not.toBeNull();
    // A month of a steady account's posts (the seed's: well over 3 pages of media posts).
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
