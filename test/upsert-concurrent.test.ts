import { type Database, migrate, openDatabase, rowsOf, sql, upsertPage } from '@birdfeed/db';
import type { CanonicalPage, Rect } from '@birdfeed/model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { page, photo, tweet, user } from '../packages/db/test/support/pages.ts';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';

/**
 * Two writers carrying the same rows at once (the same media, quoted tweet or author on two
 * accounts' pages, crawled by two workers): the newest page's boxes are what remains, exactly,
 * and the metrics histories keep every change.
 */

let testDb: TestDatabase;
let database: Database;

beforeAll(async () => {
  testDb = await createTestDatabase('upsert_concurrent');
  database = await openDatabase({ url: testDb.url, maxConnections: 4 });
  await migrate(database.db);
});

afterAll(async () => {
  await database?.close();
  await testDb?.drop();
});

const at = (hour: number) => new Date(Date.UTC(2026, 0, 1, hour));
const boxes = (n: number, base: number): Rect[] =>
  Array.from({ length: n }, (_, i) => ({ x: base + i, y: base, w: 10, h: 10 }));

function boxesPage(hour: number, faces: number, rects: number, base: number) {
  return page({
    provider: 'agntdata',
    observedAt: at(hour),
    tweets: [tweet('900', { authorId: '1' })],
    media: [
      photo('3_900', {
        faces: { orig: boxes(faces, base), small: boxes(faces, base) },
        focusRects: boxes(rects, base),
      }),
    ],
    tweetMedia: [{ tweetId: '900', mediaKey: '3_900', position: 0 }],
  });
}

/** A writer's transaction kept open: it calls `entered` inside and waits for `release`. */
function holdOpen() {
  let release = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  let entered = () => {};
  const inside = new Promise<void>((resolve) => {
    entered = resolve;
  });
  return { held, release, inside, entered };
}

/**
 * Resolves once another backend of this database waits on a lock: the second writer has
 * reached the first one's locks. A fixed delay could end before it got there on a loaded
 * machine, and the case would then pass as two writers one after the other.
 */
async function untilBlocked() {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const [row] = rowsOf<{ n: number }>(
      await database.db.execute(
        sql`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
      ),
    );
    if ((row?.n ?? 0) > 0) return;
    if (Date.now() > deadline) throw new Error('the second writer never waited on a lock');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('boxes written by two writers at once', () => {
  it("leave exactly the newest page's faces and focus rects", async () => {
    const { db } = database;
    await upsertPage(db, boxesPage(0, 1, 1, 0));
    const { held, release, inside, entered } = holdOpen();
    // A: an older page (01:00, 3 faces a size, 5 rects) whose transaction stays open.
    const a = upsertPage(db, boxesPage(1, 3, 5, 100), {
      inTransaction: async () => {
        entered();
        await held;
      },
    });
    await inside;
    // B: the newest page (02:00, 1 face a size, 2 rects) starts while A holds its locks.
    const b = upsertPage(db, boxesPage(2, 1, 2, 200));
    await untilBlocked();
    release();
    await Promise.all([a, b]);
    const faces = rowsOf<{ size: string; n: number; x: number }>(
      await db.execute(
        sql`select size, count(*)::int as n, min(x)::int as x from media_faces where media_key = '3_900' group by size order by size`,
      ),
    );
    expect(faces).toEqual([
      { size: 'orig', n: 1, x: 200 },
      { size: 'small', n: 1, x: 200 },
    ]);
    const rects = rowsOf<{ x: number }>(
      await db.execute(
        sql`select x::int as x from media_focus_rects where media_key = '3_900' order by idx`,
      ),
    );
    expect(rects).toEqual([{ x: 200 }, { x: 201 }]);
  });
});

function tweetPage(hour: number, likes: number) {
  return page({
    observedAt: at(hour),
    tweets: [tweet('910', { authorId: '77', likeCount: likes })],
  });
}

function userPage(hour: number, followers: number) {
  return page({ observedAt: at(hour), users: [user('77', { followersCount: followers })] });
}

/**
 * `first` at 00:00, then A (01:00, changed) keeps its transaction open while B (02:00, the
 * 00:00 value again: a change back) starts; returns once both committed.
 */
async function changeBackWhileHeld(pageAt: (hour: number, value: number) => CanonicalPage) {
  const { db } = database;
  await upsertPage(db, pageAt(0, 10));
  const { held, release, inside, entered } = holdOpen();
  // Users inside the page transaction, so their locks stay held too.
  const a = upsertPage(db, pageAt(1, 20), {
    separateUserTransaction: false,
    inTransaction: async () => {
      entered();
      await held;
    },
  });
  await inside;
  const b = upsertPage(db, pageAt(2, 10));
  await untilBlocked();
  release();
  await Promise.all([a, b]);
}

describe('metrics written by two writers at once', () => {
  const history = [
    { hour: 0, value: 10 },
    { hour: 1, value: 20 },
    { hour: 2, value: 10 },
  ];

  it.each([
    {
      table: 'tweet_metrics',
      pageAt: tweetPage,
      history: sql`select extract(hour from observed_at at time zone 'UTC')::int as hour, like_count::int as value from tweet_metrics where tweet_id = 910 order by observed_at`,
    },
    {
      table: 'user_metrics',
      pageAt: userPage,
      history: sql`select extract(hour from observed_at at time zone 'UTC')::int as hour, followers_count::int as value from user_metrics where user_id = 77 order by observed_at`,
    },
  ])('keep every change in $table', async ({ pageAt, history: query }) => {
    await changeBackWhileHeld(pageAt);
    const rows = rowsOf<{ hour: number; value: number }>(await database.db.execute(query));
    expect(rows).toEqual(history);
  });
});

describe('a late page inside a caller transaction (birdfeed ingest) beside another writer', () => {
  it('never deletes a history row the other writer still needs', async () => {
    const { db } = database;
    const pageAt = (hour: number, likes: number) =>
      page({ observedAt: at(hour), tweets: [tweet('920', { authorId: '78', likeCount: likes })] });
    await upsertPage(db, pageAt(0, 10));
    await upsertPage(db, pageAt(4, 20));
    const { held, release, inside, entered } = holdOpen();
    // A: an ingest-style transaction writes 30 at 03:00 and stays open.
    const a = db.transaction(async (tx) => {
      await upsertPage(tx, pageAt(3, 30));
      entered();
      await held;
    });
    await inside;
    // B: another file's transaction writes 20 at 02:00; its statement cannot see A's 30@03,
    // so 20@04 must not look like a repeat of its 20@02 to it.
    const b = db.transaction(async (tx) => {
      await upsertPage(tx, pageAt(2, 20));
    });
    await untilBlocked();
    release();
    await Promise.all([a, b]);
    const rows = rowsOf<{ hour: number; value: number }>(
      await db.execute(
        sql`select extract(hour from observed_at at time zone 'UTC')::int as hour, like_count::int as value from tweet_metrics where tweet_id = 920 order by observed_at`,
      ),
    );
    expect(rows).toEqual([
      { hour: 0, value: 10 },
      { hour: 2, value: 20 },
      { hour: 3, value: 30 },
      { hour: 4, value: 20 },
    ]);
  });
});
