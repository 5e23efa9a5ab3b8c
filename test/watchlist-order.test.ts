import { listTargets, migrate, openDatabase, upsertTarget } from '@birdfeed/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';
import { runCli } from './support/run-cli.ts';

let testDb: TestDatabase;

beforeAll(async () => {
  testDb = await createTestDatabase('watchlist_order');
  const database = await openDatabase({ url: testDb.url });
  try {
    await migrate(database.db);
    for (const userId of ['1049714', '12', '783214', '2244994945']) {
      await upsertTarget(database.db, { provider: 'x', userId });
    }
    await upsertTarget(database.db, { provider: 'agntdata', userId: '9' });
  } finally {
    await database.close();
  }
});

afterAll(async () => {
  await testDb?.drop();
});

describe('the watchlist in order', () => {
  it('lists ids as numbers, per provider (12 before 783214 before 1049714)', async () => {
    const database = await openDatabase({ url: testDb.url });
    try {
      const ids = (await listTargets(database.db)).map((t) => `${t.provider}:${t.userId}`);
      expect(ids).toEqual(['agntdata:9', 'x:12', 'x:783214', 'x:1049714', 'x:2244994945']);
    } finally {
      await database.close();
    }
    const run = await runCli('birdfeed', ['watchlist', 'list', '--provider', 'x'], {
      DATABASE_URL: testDb.url,
    });
    expect(run.code, run.stderr).toBe(0);
    expect(
      run.stdout
        .trim()
        .split('\n')
        .map((line) => line.split(/\s+/)[1]),
    ).toEqual(['12', '783214', '1049714', '2244994945']);
  });
});
