import {
  type Database,
  migrate,
  openDatabase,
  openOrAdoptRun,
  rowsOf,
  sql,
  upsertTarget,
} from '@birdfeed/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';

/**
 * `crawl --once` opening or taking over a target's run while another one-shot does the same:
 * exactly one of them gets the run, the other is told the target is busy.
 */

let testDb: TestDatabase;
let a: Database;
let b: Database;
const BUSY = { busyWithinMs: 16 * 60_000 };

beforeAll(async () => {
  testDb = await createTestDatabase('open_run_busy');
  a = await openDatabase({ url: testDb.url, maxConnections: 2 });
  b = await openDatabase({ url: testDb.url, maxConnections: 2 });
  await migrate(a.db);
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  await testDb?.drop();
});

describe('two one-shots opening the same target at once', () => {
  it('one opens a run, the other finds it busy; the same for taking over an orphan', async () => {
    for (let round = 0; round < 10; round += 1) {
      const key = { provider: 'x', userId: String(5000 + round) } as const;
      await upsertTarget(a.db, key);
      const both = await Promise.all([
        openOrAdoptRun(a.db, key, BUSY),
        openOrAdoptRun(b.db, key, BUSY),
      ]);
      expect(both.filter((result) => result.run !== null)).toHaveLength(1);
      expect(both.filter((result) => result.inUse !== null)).toHaveLength(1);
      const [runs] = rowsOf<{ n: number }>(
        await a.db.execute(
          sql`select count(*)::int as n from crawl_runs where user_id = ${key.userId}::bigint`,
        ),
      );
      expect(runs?.n).toBe(1);
    }
    // An orphan (its last activity an hour ago) is taken over once, then busy for the next.
    const key = { provider: 'x', userId: '5000' } as const;
    await a.db.execute(sql`update crawl_runs set started_at = now() - interval '1 hour'
      where user_id = 5000`);
    await a.db.execute(sql`update crawl_checkpoints set updated_at = now() - interval '1 hour'
      where user_id = 5000`);
    const first = await openOrAdoptRun(a.db, key, BUSY);
    const second = await openOrAdoptRun(b.db, key, BUSY);
    expect(first.run?.outcome).toBe('running');
    expect(second.inUse?.runId).toBe(first.run?.id);
  });
});
