import { crawlPage, crawlTargetToEnd, openRun } from '@birdfeed/crawl';
import { type Database, getCheckpoint, listGaps, rowsOf, sql, upsertTarget } from '@birdfeed/db';
import type { TimelineClient } from '@birdfeed/providers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningSandbox } from '../apps/sandbox/src/index.ts';
import { openSandboxDatabase, type SandboxDatabase } from './support/sandbox-database.ts';

/**
 * Incremental windows read side by side (the queue's FIFO interleaves their pages) share one
 * daily budget; each needs more than its share and each is stopped below REREAD_BUDGET_SHARE.
 * Reset every day, they re-bought the same top pages daily for ever: since_id never moved and
 * no gap said why. A window is read again once; stopped again on a later day, it is completed
 * with a 'budget' gap.
 */
let opened: SandboxDatabase;
let database: Database;
let sandbox: RunningSandbox;
let client: TimelineClient;
const DAY = 86_400_000;

beforeAll(async () => {
  opened = await openSandboxDatabase('budget_reread_once', {
    seed: 'budget-reread-once',
    accounts: 3,
    tweetsPerAccount: 600,
    activity: () => 'steady',
  });
  ({ database, sandbox, agntdata: client } = opened);
});
afterAll(async () => {
  await opened?.close();
});

describe('incremental windows that share the budget', () => {
  it('are read again once, then completed with a budget gap: the budget moves on', async () => {
    const { db } = database;
    const keys = sandbox.accounts().map((a) => ({ provider: 'agntdata', userId: a.id }) as const);
    const day0 = Date.parse('2033-01-01T12:00:00Z');
    for (const key of keys) {
      await upsertTarget(db, { ...key, backfillDepth: 20 });
      await crawlTargetToEnd({ db, client, target: key, now: () => new Date(day0) });
    }
    const since0 = await Promise.all(keys.map(async (k) => (await getCheckpoint(db, k))?.sinceId));
    sandbox.clock.advance(30 * DAY);
    const budget = 6; // 2 pages each per day, half the budget is 3
    const spentPerDay: number[] = [];
    for (let d = 1; d <= 4; d += 1) {
      const now = () => new Date(day0 + d * DAY);
      const runs = await Promise.all(keys.map((k) => openRun(db, k)));
      const live = new Set([0, 1, 2]);
      while (live.size > 0) {
        for (const i of [...live]) {
          const step = await crawlPage({
            db,
            client,
            target: keys[i]!,
            runId: runs[i]!.id,
            dailyBudgetCents: budget,
            now,
          });
          if (step.next !== 'page') live.delete(i);
        }
      }
      const [row] = rowsOf<{ c: number }>(
        await db.execute(
          sql`select cost_cents as c from provider_spend where day = ${new Date(day0 + d * DAY).toISOString().slice(0, 10)}::date`,
        ),
      );
      spentPerDay.push(row?.c ?? 0);
    }
    const since4 = await Promise.all(keys.map(async (k) => (await getCheckpoint(db, k))?.sinceId));
    const gaps = (await Promise.all(keys.map((k) => listGaps(db, k)))).flat();
    // Day 1 stops all three, day 2 reads them again and ends them with a gap each; days 3 and
    // 4 read only what is new above the moved since_id.
    expect(spentPerDay.slice(0, 2)).toEqual([budget, budget]);
    expect(spentPerDay[2]).toBeLessThan(budget);
    expect(since4.every((s, i) => s !== since0[i])).toBe(true);
    expect(gaps.map((gap) => gap.reason)).toEqual(['budget', 'budget', 'budget']);
  });
});
