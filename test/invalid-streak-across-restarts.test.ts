import { type CrawlStepResult, crawlPage, recordJobFailure } from '@birdfeed/crawl';
import {
  type Database,
  getTarget,
  rowsOf,
  setTargetEnabled,
  sql,
  upsertTarget,
} from '@birdfeed/db';
import { InvalidResponseError, type TimelineClient } from '@birdfeed/providers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningSandbox } from '../apps/sandbox/src/index.ts';
import { openSandboxDatabase, type SandboxDatabase } from './support/sandbox-database.ts';

/**
 * A bad page that is not the window's first is reached through a cursor. When the target's
 * interval is longer than the cursor's life (the sandbox's agntdata: 30 min), every run restarts
 * the window from the top and re-reads the pages above the bad one: the invalid-body streak
 * must survive that restart and those pages, or the target is never marked 'failing' and every
 * run buys the same pages again, for ever.
 */

/** crawl-page.ts's INVALID_PAGES_BEFORE_FAILING. */
const INVALID_PAGES_BEFORE_FAILING = 3;

let opened: SandboxDatabase;
let database: Database;
let sandbox: RunningSandbox;
let client: TimelineClient;

beforeAll(async () => {
  opened = await openSandboxDatabase('invalid_streak_restarts', {
    seed: 'invalid-streak-restarts',
    accounts: 3,
    tweetsPerAccount: 400,
    activity: 'silent',
  });
  ({ database, sandbox, agntdata: client } = opened);
});

afterAll(async () => {
  await opened?.close();
});

/** One scheduled run as the worker drives it, page 3 of the window invalid when `poison`. */
async function oneRun(userId: string, run: number, poison: boolean): Promise<number> {
  const { db } = database;
  const key = { provider: 'agntdata', userId } as const;
  let runId: string | null = null;
  let pagesWritten = 0;
  let bought = 0;
  for (;;) {
    if (poison && pagesWritten === 2) sandbox.faults.add('malformed*1@agntdata');
    const step: CrawlStepResult | Error = await crawlPage({ db, client, target: key, runId }).then(
      (done): CrawlStepResult | Error => done,
      (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
    );
    if (step instanceof InvalidResponseError) {
      bought += 1;
      await recordJobFailure(db, { ...key, runId, jobId: `run${run}`, error: step, final: true });
      return bought;
    }
    if (step instanceof Error) throw step;
    runId = step.runId;
    bought += step.requests;
    if (step.outcome === 'page') pagesWritten += 1;
    if (step.next === 'done') return bought;
  }
}

async function streakOf(userId: string): Promise<number | undefined> {
  const [row] = rowsOf<{ invalid_streak: number }>(
    await database.db.execute(
      sql`select invalid_streak from crawl_checkpoints where provider = 'agntdata' and user_id = ${userId}::bigint`,
    ),
  );
  return row?.invalid_streak;
}

describe('a bad page behind a cursor that expires between runs', () => {
  it(`marks the target failing after ${INVALID_PAGES_BEFORE_FAILING} runs that met it`, async () => {
    const userId = sandbox.accounts()[0]?.id as string;
    const key = { provider: 'agntdata', userId } as const;
    await upsertTarget(database.db, { ...key, intervalSeconds: 3600 });
    for (let run = 1; run <= INVALID_PAGES_BEFORE_FAILING; run += 1) {
      expect((await getTarget(database.db, key))?.state).toBe('active');
      await oneRun(userId, run, true);
      expect(await streakOf(userId)).toBe(run);
      // The interval (1 h) passes; the cursor (30 min) expires meanwhile: the next run
      // restarts the window from the top and re-reads pages 1 and 2.
      sandbox.clock.advance(3_600_000);
    }
    const target = await getTarget(database.db, key);
    expect(target?.state).toBe('failing');
    expect(target?.stateReason).toContain('invalid 3 times in a row');
  });

  it('forgets a bad body once the page at its position is written fine', async () => {
    const userId = sandbox.accounts()[1]?.id as string;
    const key = { provider: 'agntdata', userId } as const;
    await upsertTarget(database.db, { ...key, intervalSeconds: 3600 });
    // Two runs meet a bad page 3 (two bad moments); the third reads the whole window fine.
    await oneRun(userId, 1, true);
    sandbox.clock.advance(3_600_000);
    await oneRun(userId, 2, true);
    expect(await streakOf(userId)).toBe(2);
    sandbox.clock.advance(3_600_000);
    await oneRun(userId, 3, false);
    expect(await streakOf(userId)).toBe(0);
    expect((await getTarget(database.db, key))?.state).toBe('active');
  });

  it('starts a fresh streak when the operator re-enables the failing target', async () => {
    const userId = sandbox.accounts()[2]?.id as string;
    const key = { provider: 'agntdata', userId } as const;
    await upsertTarget(database.db, { ...key, intervalSeconds: 3600 });
    for (let run = 1; run <= INVALID_PAGES_BEFORE_FAILING; run += 1) {
      await oneRun(userId, run, true);
      sandbox.clock.advance(3_600_000);
    }
    expect((await getTarget(database.db, key))?.state).toBe('failing');
    // `birdfeed watchlist enable`: the bodies that marked it were dealt with.
    await setTargetEnabled(database.db, { userId, provider: 'agntdata' }, true);
    expect((await getTarget(database.db, key))?.state).toBe('active');
    expect(await streakOf(userId)).toBe(0);
    // One bad body right after (a provider hiccup) is one in a row, not four.
    await oneRun(userId, INVALID_PAGES_BEFORE_FAILING + 1, true);
    expect(await streakOf(userId)).toBe(1);
    expect((await getTarget(database.db, key))?.state).toBe('active');
  });
});
