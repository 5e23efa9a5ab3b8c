import { crawlPage, openRun } from '@birdfeed/crawl';
import {
  type BirdfeedDb,
  type Database,
  getCheckpoint,
  listGaps,
  rowsOf,
  sql,
  upsertTarget,
} from '@birdfeed/db';
import type { TimelineClient } from '@birdfeed/providers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningSandbox } from '../apps/sandbox/src/index.ts';
import { openSandboxDatabase, type SandboxDatabase } from './support/sandbox-database.ts';

/**
 * The daily budget stops a window while a second execution of the same page (a stalled job
 * run again) writes that page first. The budget stop's compare-and-set then fails: it used to
 * commit the run's cancellation anyway ("since_id moved ..., a 'budget' gap" — nothing moved,
 * no gap), and the closed run left the window's cursor open until the next day. Now the run is
 * cancelled only with the compare-and-set: the step is stale, the run goes on, and the next
 * page job stops the window for real.
 */

let opened: SandboxDatabase;
let database: Database;
let sandbox: RunningSandbox;
let client: TimelineClient;

beforeAll(async () => {
  opened = await openSandboxDatabase('budget_stop_race', {
    seed: 'budget-stop-race',
    accounts: 2,
    tweetsPerAccount: 400,
    activity: 'silent',
  });
  ({ database, sandbox, agntdata: client } = opened);
});

afterAll(async () => {
  await opened?.close();
});

/** The budget's reservation statement (reserveSpend), by its SQL text. */
function isReserve(query: unknown): boolean {
  const chunks = (query as { queryChunks?: unknown[] }).queryChunks ?? [];
  return chunks.some((chunk) => {
    const value = (chunk as { value?: unknown }).value;
    return Array.isArray(value) && value.join('').includes('INSERT INTO provider_spend');
  });
}

/** `db`, with `duplicate` run just before the budget's reservation (once). */
function racing(
  db: BirdfeedDb,
  duplicate: () => Promise<void>,
): { db: BirdfeedDb; fired: () => boolean } {
  let fired = false;
  const wrapped = new Proxy(db, {
    get(target, prop, receiver) {
      if (prop === 'execute') {
        return async (query: unknown) => {
          if (!fired && isReserve(query)) {
            fired = true;
            await duplicate();
          }
          return (target.execute as (q: unknown) => Promise<unknown>)(query);
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as BirdfeedDb;
  return { db: wrapped, fired: () => fired };
}

async function spentCents(db: BirdfeedDb): Promise<number> {
  const [spent] = rowsOf<{ cents: number }>(
    await db.execute(sql`select coalesce(sum(cost_cents), 0)::int as cents from provider_spend`),
  );
  return spent?.cents ?? 0;
}

async function runOf(db: BirdfeedDb, runId: string) {
  return rowsOf<{ outcome: string; error: string | null }>(
    await db.execute(sql`select outcome, error from crawl_runs where id = ${runId}::bigint`),
  )[0];
}

describe('a budget stop racing a duplicate execution of the same page', () => {
  it('cancels nothing when it loses the compare-and-set; the next page job stops the window', async () => {
    const { db } = database;
    const userId = sandbox.accounts()[0]?.id as string;
    const key = { provider: 'agntdata', userId } as const;
    await upsertTarget(db, { ...key, backfillDepth: 300 });
    const first = await crawlPage({ db, client, target: key });
    expect(first.next).toBe('page');
    const runId = first.runId;
    const budget = (await spentCents(db)) + 1;
    // The duplicate execution writes page 2 and spends the budget's last cent.
    const race = racing(db, async () => {
      const dup = await crawlPage({ db, client, target: key, runId });
      expect(dup.outcome).toBe('page');
    });
    const stopped = await crawlPage({
      db: race.db,
      client,
      target: key,
      runId,
      dailyBudgetCents: budget,
    });
    expect(race.fired()).toBe(true);
    // Stale: nothing written, and the window (still this run's) goes on with the next page job.
    expect(stopped.outcome).toBe('stale');
    expect(stopped.next).toBe('page');
    expect(await runOf(db, runId)).toEqual({ outcome: 'running', error: null });
    expect(await listGaps(db, key)).toEqual([]);
    expect((await getCheckpoint(db, key))?.windowPages).toBe(2);

    // The page job that follows the duplicate's page stops the window (a backfill: completed at
    // the depth read, with a 'budget' gap) and cancels the run, saying so.
    const next = await crawlPage({ db, client, target: key, runId, dailyBudgetCents: budget });
    expect(next.outcome).toBe('budget_reached');
    const after = await getCheckpoint(db, key);
    expect(after).toMatchObject({ cursor: null, backfillDone: true });
    expect((await listGaps(db, key)).map((gap) => gap.reason)).toEqual(['budget']);
    const run = await runOf(db, runId);
    expect(run?.outcome).toBe('cancelled');
    expect(run?.error).toContain('the window was ended after 2 pages');
    expect(run?.error).toContain("'budget' gap");
  });

  it('cancels nothing when a duplicate opened the window meanwhile', async () => {
    const { db } = database;
    const userId = sandbox.accounts()[1]?.id as string;
    const key = { provider: 'agntdata', userId } as const;
    await upsertTarget(db, { ...key, backfillDepth: 300 });
    const runId = (await openRun(db, key)).id;
    const budget = (await spentCents(db)) + 1;
    // The duplicate execution of the run's first page opens the window and spends the last cent.
    const race = racing(db, async () => {
      const dup = await crawlPage({ db, client, target: key, runId });
      expect(dup.outcome).toBe('page');
    });
    const stopped = await crawlPage({
      db: race.db,
      client,
      target: key,
      runId,
      dailyBudgetCents: budget,
    }).catch((error: unknown) => error);
    expect(race.fired()).toBe(true);
    expect(stopped).toMatchObject({ outcome: 'stale', next: 'page' });
    expect(await runOf(db, runId)).toEqual({ outcome: 'running', error: null });
    const next = await crawlPage({ db, client, target: key, runId, dailyBudgetCents: budget });
    expect(next.outcome).toBe('budget_reached');
    expect(await getCheckpoint(db, key)).toMatchObject({ cursor: null, backfillDone: true });
    const run = await runOf(db, runId);
    expect(run?.outcome).toBe('cancelled');
    expect(run?.error).toContain('the window was ended after 1 page (');
  });
});
