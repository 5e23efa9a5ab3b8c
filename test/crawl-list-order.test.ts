import {
  type Database,
  listFailures,
  listGaps,
  listRuns,
  migrate,
  openDatabase,
  recordFailure,
  recordGap,
  sql,
  startRun,
} from '@birdfeed/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';

/**
 * The lists select `id::text AS id`: ordered by that text column, id 10 came before id 9, and
 * the "newest failure" of a target past its ninth was an older one.
 */
describe('runs, failures and gaps are listed in id order across a digit boundary', () => {
  let testDb: TestDatabase;
  let database: Database;
  beforeAll(async () => {
    testDb = await createTestDatabase('list_order');
    database = await openDatabase({ url: testDb.url });
    await migrate(database.db);
  });
  afterAll(async () => {
    await database?.close();
    await testDb?.drop();
  });

  it('newest first (runs, failures), oldest first (gaps)', async () => {
    const { db } = database;
    const key = { provider: 'x', userId: '42' } as const;
    for (const seq of ['crawl_runs_id_seq', 'crawl_failures_id_seq', 'crawl_gaps_id_seq']) {
      await db.execute(sql`select setval(${seq}, 8)`);
    }
    for (let i = 0; i < 3; i += 1) {
      await startRun(db, { ...key, kind: 'incremental' });
      await recordFailure(db, { ...key, errorName: 'E', errorMessage: `failure ${i}` });
      await recordGap(db, { ...key, sinceId: null, oldestId: null, reason: 'x_timeline_cap' });
    }
    expect((await listRuns(db, key)).map((run) => run.id)).toEqual(['11', '10', '9']);
    expect((await listFailures(db, key)).map((failure) => failure.id)).toEqual(['11', '10', '9']);
    expect((await listGaps(db, key)).map((gap) => gap.id)).toEqual(['9', '10', '11']);
  });
});
