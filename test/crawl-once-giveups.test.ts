import { crawlOnce, EMPTY_GIVEUPS_BEFORE_FAILING } from '@birdfeed/crawl';
import {
  type Database,
  getCheckpoint,
  getTarget,
  migrate,
  openDatabase,
  upsertTarget,
} from '@birdfeed/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeTimeline } from './support/crawl-fake-timeline.ts';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';

/*
 * crawl --once exits 0 when all succeeded, 1 otherwise ("a failure, an account marked
 * unavailable, …"): the run whose give-up on empty pages marks the target 'failing' (it is not
 * crawled again until `watchlist enable`) is not all-good either.
 */

let testDb: TestDatabase;
let database: Database;

beforeAll(async () => {
  testDb = await createTestDatabase('once_giveups');
  database = await openDatabase({ url: testDb.url });
  await migrate(database.db);
});

afterAll(async () => {
  await database?.close();
  await testDb?.drop();
});

describe('crawl --once on the run that marks the target failing', () => {
  it('is not ok (exit 1): the target is now out of the schedule', async () => {
    const db = database.db;
    const key = { provider: 'x', userId: '889001' } as const;
    await upsertTarget(db, { ...key, backfillDepth: 20 });
    const client = new FakeTimeline({
      ...key,
      ids: Array.from({ length: 20 }, (_, i) => 10_000n + BigInt(i)),
      pageSize: 5,
    });
    let last: Awaited<ReturnType<typeof crawlOnce>> | null = null;
    for (let run = 1; run <= EMPTY_GIVEUPS_BEFORE_FAILING; run += 1) {
      for (let i = 0; i < 10; i += 1) client.faults.push({ kind: 'empty-page' });
      last = await crawlOnce({ db, clients: { x: client }, targets: [key] });
      expect(last.targets[0]?.emptyGiveUp?.inARow).toBe(run);
    }
    expect((await getTarget(db, key))?.state).toBe('failing');
    expect(last?.targets[0]?.emptyGiveUp?.failing).not.toBeNull();
    expect(last?.ok).toBe(false);
  });
});

describe('an incremental X window of a quiet account', () => {
  it('result_count 0 without next_token does not count, and clears an earlier give-up', async () => {
    const db = database.db;
    const key = { provider: 'x', userId: '889002' } as const;
    await upsertTarget(db, { ...key, backfillDepth: 20 });
    const client = new FakeTimeline({
      ...key,
      ids: Array.from({ length: 10 }, (_, i) => 20_000n + BigInt(i)),
      pageSize: 5,
    });
    const backfill = await crawlOnce({ db, clients: { x: client }, targets: [key] });
    expect(backfill.targets[0]?.sinceId).toBe('20009');
    for (let i = 0; i < 10; i += 1) client.faults.push({ kind: 'empty-page' });
    // One new tweet that the empty pages (each with a token) never list; then it is deleted.
    client.add(20_010n);
    const gaveUp = await crawlOnce({ db, clients: { x: client }, targets: [key] });
    expect(gaveUp.targets[0]?.emptyGiveUp?.inARow).toBe(1);
    client.ids = client.ids.filter((id) => id !== 20_010n);
    const quiet = await crawlOnce({ db, clients: { x: client }, targets: [key] });
    expect(quiet.targets[0]).toMatchObject({ outcome: 'succeeded', emptyGiveUp: null });
    expect(quiet.targets[0]?.pages).toBe(1);
    expect((await getCheckpoint(db, key))?.emptyGiveUps).toBe(0);
  });
});
