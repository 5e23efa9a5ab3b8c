import {
  type BirdfeedDb,
  type Database,
  InvalidPageError,
  migrate,
  openDatabase,
  rowsOf,
  sql,
  upsertPage,
} from '@birdfeed/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { page, photo, tweet, user } from '../packages/db/test/support/pages.ts';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';

const BIG_USER = '1234567890123456789'; // > 2^53: a JS number would round it
const T1 = new Date('2025-05-21T08:00:00Z');
const T2 = new Date('2025-05-21T09:00:00Z');

async function rows<T>(db: BirdfeedDb, query: ReturnType<typeof sql>): Promise<T[]> {
  return rowsOf<T>(await db.execute(query));
}

async function counts(db: BirdfeedDb): Promise<Record<string, number>> {
  const [row] = await rows<Record<string, number>>(
    db,
    sql`select
      (select count(*)::int from users) as users,
      (select count(*)::int from user_metrics) as user_metrics,
      (select count(*)::int from tweets) as tweets,
      (select count(*)::int from tweet_metrics) as tweet_metrics,
      (select count(*)::int from tweet_references) as tweet_references,
      (select count(*)::int from media) as media,
      (select count(*)::int from tweet_media) as tweet_media,
      (select count(*)::int from media_faces) as media_faces,
      (select count(*)::int from media_focus_rects) as media_focus_rects,
      (select count(*)::int from raw_pages) as raw_pages`,
  );
  return row!;
}

/** The suite runs on both drivers: node-postgres against real Postgres, and PGlite. */
const drivers: { name: string; open(): Promise<{ database: Database; drop(): Promise<void> }> }[] =
  [
    {
      name: 'postgres',
      async open() {
        const testDb: TestDatabase = await createTestDatabase('upsert');
        const database = await openDatabase({ url: testDb.url });
        return {
          database,
          drop: async () => {
            await database.close();
            await testDb.drop();
          },
        };
      },
    },
    {
      name: 'pglite',
      async open() {
        const database = await openDatabase({});
        return { database, drop: () => database.close() };
      },
    },
  ];

describe.each(drivers)('upsertPage on $name', (driver) => {
  let handle: Awaited<ReturnType<(typeof drivers)[number]['open']>>;
  let db: BirdfeedDb;
  beforeAll(async () => {
    handle = await driver.open();
    db = handle.database.db;
    await migrate(db);
  });
  afterAll(async () => {
    await handle?.drop();
  });

  it('writes every table, keeps a bigint id above 2^53, and a second write changes no row count', async () => {
    const first = page({
      userId: BIG_USER,
      observedAt: T1,
      users: [
        user(BIG_USER, { username: 'big', followersCount: 10, createdAt: T1 }),
        user('42', { username: 'other' }),
      ],
      tweets: [
        tweet('9223372036854775000', {
          authorId: BIG_USER,
          text: 'hello',
          likeCount: 5,
          createdAt: T1,
          editHistoryTweetIds: ['9223372036854775000'],
          entities: { hashtags: [{ tag: 'x"y' }] },
          references: [{ type: 'quoted', id: '77' }],
          quotedTweetId: '77',
        }),
        tweet('77', { authorId: '42', text: 'quoted', fromTimeline: false }),
      ],
      media: [
        photo('3_1', {
          url: 'https://pbs.twimg.com/media/a.jpg',
          faces: { orig: [{ x: 1, y: 2, w: 3, h: 4 }], small: [] },
          focusRects: [{ x: 0, y: 0, w: 10, h: 10 }],
        }),
      ],
      tweetMedia: [{ tweetId: '9223372036854775000', mediaKey: '3_1', position: 0 }],
    });
    const result = await upsertPage(db, first, {
      raw: { body: '{"data":[]}', requestUrl: 'https://api.x.com/2/users/1/tweets', status: 200 },
    });
    expect(result).toMatchObject({
      tweetsNew: 2,
      tweetsUpdated: 0,
      users: 2,
      usersNew: 2,
      media: 1,
      tweetMedia: 1,
      tweetReferences: 1,
      faces: 1,
      focusRects: 1,
      tweetMetrics: 1,
      userMetrics: 1,
    });
    expect(result.rawPageId).toMatch(/^\d+$/);
    const before = await counts(db);
    expect(before).toMatchObject({ tweets: 2, users: 2, media_faces: 1, raw_pages: 1 });

    const [stored] = await rows<Record<string, unknown>>(
      db,
      sql`select id::text, author_id::text, edit_history_tweet_ids::text as edits, entities, from_timeline
          from tweets where id = 9223372036854775000`,
    );
    expect(stored).toEqual({
      id: '9223372036854775000',
      author_id: BIG_USER,
      edits: '{9223372036854775000}',
      entities: { hashtags: [{ tag: 'x"y' }] },
      from_timeline: true,
    });

    const again = await upsertPage(db, first);
    expect(again).toMatchObject({
      tweetsNew: 0,
      tweetsUpdated: 2,
      usersNew: 0,
      faces: 0,
      focusRects: 0,
      tweetMetrics: 0,
      userMetrics: 0,
    });
    expect(await counts(db)).toEqual({ ...before });
  });

  it('an older observation written after a newer one leaves the newer metrics', async () => {
    const newer = page({
      observedAt: T2,
      users: [user('500', { followersCount: 200, username: 'new_name' })],
      tweets: [tweet('501', { authorId: '500', likeCount: 20, retweetCount: 2 })],
    });
    const older = page({
      observedAt: T1,
      users: [user('500', { followersCount: 100, username: 'old_name', location: 'Paris' })],
      tweets: [tweet('501', { authorId: '500', likeCount: 10, retweetCount: 1, replyCount: 4 })],
    });
    await upsertPage(db, newer);
    await upsertPage(db, older);
    const [t] = await rows<Record<string, unknown>>(
      db,
      sql`select like_count::int, retweet_count::int, reply_count::int, observed_at from tweets where id = 501`,
    );
    // Newer counts stay; a count only the older page had fills the empty field.
    expect(t).toMatchObject({ like_count: 20, retweet_count: 2, reply_count: 4 });
    expect(new Date(t!.observed_at as string).toISOString()).toBe(T2.toISOString());
    const [u] = await rows<Record<string, unknown>>(
      db,
      sql`select followers_count::int, username, location from users where id = 500`,
    );
    expect(u).toEqual({ followers_count: 200, username: 'new_name', location: 'Paris' });
    // Both observations differ, so both are history.
    const history = await rows<{ like_count: number }>(
      db,
      sql`select like_count::int from tweet_metrics where tweet_id = 501 order by observed_at`,
    );
    expect(history.map((h) => h.like_count)).toEqual([10, 20]);
  });

  it('a cut text (a long post seen without note_tweet) never replaces the whole one, in either order', async () => {
    const full = `${'long post '.repeat(60)}end`;
    const cut = `${full.slice(0, 270)}… https://t.co/zz`;
    const fullEntities = { hashtags: [{ start: 600, end: 603, tag: 'end' }] };
    const cutEntities = { urls: [{ start: 272, end: 288, url: 'https://t.co/zz' }] };
    const observe = (id: string, text: string, entities: object, observedAt: Date) =>
      upsertPage(db, page({ observedAt, tweets: [tweet(id, { text, entities, likeCount: 1 })] }));
    // The whole text first, a newer cut one after; and a cut one first, an older whole one after.
    await observe('1601', full, fullEntities, T1);
    await observe('1601', cut, cutEntities, T2);
    await observe('1602', cut, cutEntities, T2);
    await observe('1602', full, fullEntities, T1);
    // Texts that are not a cut of one another: the newer observation wins as for any field.
    await observe('1603', 'same length A', {}, T1);
    await observe('1603', 'same length B', {}, T2);
    // A whole text barely over the cut is shorter than its cut form with the link: it still
    // wins, by being what the cut form starts with.
    const short = `${'x'.repeat(285)}end`;
    const shortCut = `${short.slice(0, 272)}… https://t.co/abcdefghij`;
    expect(shortCut.length).toBeGreaterThan(short.length);
    await observe('1604', short, fullEntities, T1);
    await observe('1604', shortCut, cutEntities, T2);
    // The whole text stored without entities: the cut one's offsets are not borrowed.
    await upsertPage(
      db,
      page({ observedAt: T2, tweets: [tweet('1605', { text: full, likeCount: 1 })] }),
    );
    await observe('1605', cut, cutEntities, T1);
    const stored = await rows<{ id: string; text: string; entities: object | null }>(
      db,
      sql`select id::text, text, entities from tweets where id between 1601 and 1605 order by id`,
    );
    expect(stored).toEqual([
      { id: '1601', text: full, entities: fullEntities },
      { id: '1602', text: full, entities: fullEntities },
      { id: '1603', text: 'same length B', entities: {} },
      { id: '1604', text: short, entities: fullEntities },
      { id: '1605', text: full, entities: null },
    ]);
  });

  it('an observation that reports no count (a user lookup) moves neither clock nor history', async () => {
    const at = (day: number) => new Date(Date.UTC(2025, 8, day));
    const full = (day: number, followers: number, description: string, likes: number) =>
      upsertPage(
        db,
        page({
          observedAt: at(day),
          users: [user('1900', { followersCount: followers, description })],
          tweets: [tweet('1901', { authorId: '1900', likeCount: likes })],
        }),
      );
    await full(1, 100, 'first bio', 10);
    // Day 20: only id, username and name (and a tweet without public_metrics).
    await upsertPage(
      db,
      page({
        observedAt: at(20),
        users: [{ id: '1900', username: 'u1900', name: 'Nineteen Hundred' }],
        tweets: [tweet('1901', { authorId: '1900' })],
      }),
    );
    // Day 10, written last: newer than everything day 1 said, older than day 20's name.
    await full(10, 150, 'second bio', 15);
    const [u] = await rows<Record<string, unknown>>(
      db,
      sql`select followers_count::int, description, name, observed_at, metrics_observed_at
        from users where id = 1900`,
    );
    // The lookup's name stays: the day-10 page did not report one.
    expect(u).toMatchObject({
      followers_count: 150,
      description: 'second bio',
      name: 'Nineteen Hundred',
    });
    expect(new Date(u!.metrics_observed_at as string).toISOString()).toBe(at(10).toISOString());
    const [t] = await rows<Record<string, unknown>>(
      db,
      sql`select like_count::int, metrics_observed_at from tweets where id = 1901`,
    );
    expect(t?.like_count).toBe(15);
    expect(new Date(t!.metrics_observed_at as string).toISOString()).toBe(at(10).toISOString());
    // No row says day 1's counts held on day 20: nobody saw counts then.
    const history = await rows<{ day: number; followers_count: number }>(
      db,
      sql`select extract(day from observed_at at time zone 'UTC')::int as day, followers_count::int
        from user_metrics where user_id = 1900 order by observed_at`,
    );
    expect(history).toEqual([
      { day: 1, followers_count: 100 },
      { day: 10, followers_count: 150 },
    ]);
    const likes = await rows<{ day: number }>(
      db,
      sql`select extract(day from observed_at at time zone 'UTC')::int as day
        from tweet_metrics where tweet_id = 1901 order by observed_at`,
    );
    expect(likes.map((h) => h.day)).toEqual([1, 10]);
  });

  it('a row seen only in lookups keeps the newest one, whatever the order they are written in', async () => {
    for (const day of [2, 9, 5]) {
      await upsertPage(
        db,
        page({
          observedAt: new Date(Date.UTC(2025, 8, day)),
          users: [{ id: '1920', username: 'u1920', name: `day ${day}` }],
        }),
      );
    }
    const [u] = await rows<{ name: string }>(db, sql`select name from users where id = 1920`);
    expect(u?.name).toBe('day 9');
  });

  it('of two observations at the same instant, the table and the history keep the same one', async () => {
    const at = new Date(Date.UTC(2025, 9, 1));
    const observe = (likes: number) =>
      upsertPage(db, page({ observedAt: at, tweets: [tweet('1951', { likeCount: likes })] }));
    await observe(10);
    await observe(20);
    const [t] = await rows<{ like_count: number }>(
      db,
      sql`select like_count::int from tweets where id = 1951`,
    );
    const history = await rows<{ like_count: number }>(
      db,
      sql`select like_count::int from tweet_metrics where tweet_id = 1951`,
    );
    expect(history).toEqual([{ like_count: t?.like_count }]);
  });

  it('writes a metrics history row only when a value changed', async () => {
    const at = (hour: number) => new Date(Date.UTC(2025, 5, 1, hour));
    const observe = (hour: number, likes: number, views?: number) =>
      upsertPage(
        db,
        page({
          observedAt: at(hour),
          tweets: [tweet('601', { likeCount: likes, viewCount: views })],
        }),
      );
    expect((await observe(1, 3)).tweetMetrics).toBe(1);
    expect((await observe(2, 3)).tweetMetrics).toBe(0);
    expect((await observe(3, 4)).tweetMetrics).toBe(1);
    // A provider that also reports views: a new value, so a new row.
    expect((await observe(4, 4, 100)).tweetMetrics).toBe(1);
    // The same likes without views: nothing reported changed.
    expect((await observe(5, 4)).tweetMetrics).toBe(0);
    const history = await rows<{ like_count: number }>(
      db,
      sql`select like_count::int from tweet_metrics where tweet_id = 601 order by observed_at`,
    );
    expect(history.map((h) => h.like_count)).toEqual([3, 4, 4]);
  });

  it('a late page between unchanged observations leaves the history exact, for tweets and users', async () => {
    const at = (hour: number) => new Date(Date.UTC(2025, 6, 1, hour));
    const observe = (hour: number, likes: number, followers: number) =>
      upsertPage(
        db,
        page({
          observedAt: at(hour),
          users: [user('800', { followersCount: followers })],
          tweets: [tweet('801', { authorId: '800', likeCount: likes })],
        }),
      );
    await observe(0, 10, 100);
    expect((await observe(2, 10, 100)).tweetMetrics).toBe(0); // unchanged: no row
    // Written last, observed in between: 20 held from 01:00 until 02:00, when it was 10 again.
    const late = await observe(1, 20, 200);
    expect(late).toMatchObject({ tweetMetrics: 2, userMetrics: 2 });
    const tweets = await rows<{ like_count: number; observed_at: string }>(
      db,
      sql`select like_count::int, observed_at from tweet_metrics where tweet_id = 801 order by observed_at`,
    );
    expect(tweets.map((h) => [new Date(h.observed_at).getUTCHours(), h.like_count])).toEqual([
      [0, 10],
      [1, 20],
      [2, 10],
    ]);
    const users = await rows<{ followers_count: number }>(
      db,
      sql`select followers_count::int from user_metrics where user_id = 800 order by observed_at`,
    );
    expect(users.map((h) => h.followers_count)).toEqual([100, 200, 100]);
    // A late page equal to the row after it: the change happened by 03:00, so 30@03 replaces
    // 30@04, which no longer marks a change (one row per change, never two identical ones).
    await observe(4, 30, 100);
    expect((await observe(3, 30, 100)).tweetMetrics).toBe(1);
    const after = await rows<{ like_count: number; observed_at: string }>(
      db,
      sql`select like_count::int, observed_at from tweet_metrics where tweet_id = 801 order by observed_at`,
    );
    expect(after.map((h) => [new Date(h.observed_at).getUTCHours(), h.like_count])).toEqual([
      [0, 10],
      [1, 20],
      [2, 10],
      [3, 30],
    ]);
  });

  it('a row first seen on a newer page, then on an older one with the same counts, has one history row', async () => {
    // Two workers carrying the same author: the page fetched second committed first.
    const at = (minute: number) => new Date(Date.UTC(2025, 7, 1, 12, minute));
    const observe = (minute: number) =>
      upsertPage(
        db,
        page({
          observedAt: at(minute),
          users: [user('950', { followersCount: 5, followingCount: 7 })],
          tweets: [tweet('951', { authorId: '950', likeCount: 3 })],
        }),
      );
    await observe(2);
    await observe(1);
    for (const [table, key, id] of [
      ['user_metrics', 'user_id', 950],
      ['tweet_metrics', 'tweet_id', 951],
    ] as const) {
      const history = await rows<{ observed_at: string }>(
        db,
        sql`select observed_at from ${sql.raw(table)} where ${sql.raw(key)} = ${id} order by observed_at`,
      );
      expect(
        history.map((h) => new Date(h.observed_at).getUTCMinutes()),
        table,
      ).toEqual([1]);
    }
  });

  it("a late page's closing history row does not restate a metric only the other provider reports", async () => {
    const at = (hour: number) => new Date(Date.UTC(2025, 7, 1, hour));
    const x = (hour: number, likes: number, impressions: number) =>
      page({
        provider: 'x',
        observedAt: at(hour),
        tweets: [
          tweet('811', { likeCount: likes, impressionCount: impressions, viewCount: impressions }),
        ],
      });
    await upsertPage(db, x(0, 10, 100));
    await upsertPage(
      db,
      page({
        provider: 'agntdata',
        observedAt: at(2),
        tweets: [tweet('811', { likeCount: 10, viewCount: 100 })],
      }),
    );
    await upsertPage(db, x(1, 20, 150)); // written last
    const history = await rows<{ like_count: number; impression_count: number | null }>(
      db,
      sql`select like_count::int, impression_count::int from tweet_metrics where tweet_id = 811 order by observed_at`,
    );
    // At 02:00 agntdata said nothing about impressions: not "back to 100".
    expect(history).toEqual([
      { like_count: 10, impression_count: 100 },
      { like_count: 20, impression_count: 150 },
      { like_count: 10, impression_count: null },
    ]);
  });

  it('a field a provider does not report is kept: X alt_text and agntdata faces both survive', async () => {
    const fromX = page({
      provider: 'x',
      observedAt: T2,
      tweets: [tweet('701', { authorId: '1', impressionCount: 1000, likeCount: 7 })],
      media: [photo('3_701', { altText: 'a cat on a mat', width: 800 })],
      tweetMedia: [{ tweetId: '701', mediaKey: '3_701', position: 0 }],
    });
    const fromAgntdata = page({
      provider: 'agntdata',
      observedAt: T1,
      tweets: [tweet('701', { authorId: '1', viewCount: 900, likeCount: 6 })],
      media: [
        photo('3_701', {
          width: 800,
          faces: {
            orig: [
              { x: 10, y: 20, w: 30, h: 40 },
              { x: 50, y: 60, w: 70, h: 80 },
            ],
          },
          focusRects: [{ x: 1, y: 1, w: 2, h: 2 }],
        }),
      ],
      tweetMedia: [{ tweetId: '701', mediaKey: '3_701', position: 0 }],
    });
    await upsertPage(db, fromAgntdata);
    await upsertPage(db, fromX);
    await upsertPage(db, fromAgntdata); // again, written last but observed first
    const [m] = await rows<Record<string, unknown>>(
      db,
      sql`select alt_text, width from media where media_key = '3_701'`,
    );
    expect(m).toEqual({ alt_text: 'a cat on a mat', width: 800 });
    const faces = await rows<Record<string, unknown>>(
      db,
      sql`select size, idx, x, y, w, h from media_faces where media_key = '3_701' order by size, idx`,
    );
    expect(faces).toEqual([
      { size: 'orig', idx: 0, x: 10, y: 20, w: 30, h: 40 },
      { size: 'orig', idx: 1, x: 50, y: 60, w: 70, h: 80 },
    ]);
    const [t] = await rows<Record<string, unknown>>(
      db,
      sql`select impression_count::int, view_count::int, like_count::int from tweets where id = 701`,
    );
    expect(t).toEqual({ impression_count: 1000, view_count: 900, like_count: 7 });
  });

  it('replaces the faces of a reported size exactly and leaves unreported sizes alone', async () => {
    const observe = (faces: Parameters<typeof photo>[1]) =>
      upsertPage(db, page({ provider: 'agntdata', media: [photo('3_801', faces)] }));
    await observe({
      faces: {
        orig: [
          { x: 1, y: 1, w: 1, h: 1 },
          { x: 2, y: 2, w: 2, h: 2 },
          { x: 3, y: 3, w: 3, h: 3 },
        ],
        small: [{ x: 9, y: 9, w: 9, h: 9 }],
      },
      focusRects: [
        { x: 0, y: 0, w: 5, h: 5 },
        { x: 1, y: 1, w: 5, h: 5 },
      ],
    });
    const result = await observe({
      faces: { orig: [{ x: 2, y: 2, w: 2, h: 2 }] },
      focusRects: [],
    });
    expect(result).toMatchObject({ faces: 1, facesRemoved: 2, focusRectsRemoved: 2 });
    const faces = await rows<Record<string, unknown>>(
      db,
      sql`select size, idx, x from media_faces where media_key = '3_801' order by size, idx`,
    );
    expect(faces).toEqual([
      { size: 'orig', idx: 0, x: 2 },
      { size: 'small', idx: 0, x: 9 },
    ]);
    const [{ n }] = (await rows<{ n: number }>(
      db,
      sql`select count(*)::int as n from media_focus_rects where media_key = '3_801'`,
    )) as [{ n: number }];
    expect(n).toBe(0);
    // An X page (faces unknown) touches none of it.
    await upsertPage(db, page({ provider: 'x', media: [photo('3_801', { altText: 'x' })] }));
    const after = await rows(db, sql`select 1 from media_faces where media_key = '3_801'`);
    expect(after).toHaveLength(2);
  });

  it('boxes have their own clock: a page written late cannot replace newer faces or focus rects', async () => {
    const at = (hour: number) => new Date(Date.UTC(2025, 5, 1, hour));
    const observe = (
      provider: 'x' | 'agntdata',
      hour: number,
      fields: Parameters<typeof photo>[1],
    ) => upsertPage(db, page({ provider, observedAt: at(hour), media: [photo('3_901', fields)] }));
    const stored = async () => ({
      faces: (
        await rows<{ x: number }>(
          db,
          sql`select x from media_faces where media_key = '3_901' and size = 'orig' order by idx`,
        )
      ).map((r) => r.x),
      rects: (
        await rows<{ x: number }>(
          db,
          sql`select x from media_focus_rects where media_key = '3_901' order by idx`,
        )
      ).map((r) => r.x),
    });
    const box = (x: number) => ({ x, y: 0, w: 1, h: 1 });
    await observe('agntdata', 2, { faces: { orig: [box(1)] }, focusRects: [box(10)] });
    // Observed at 01:00, written after the 02:00 page (a retried job): it changes no box.
    const late = await observe('agntdata', 1, {
      faces: { orig: [box(5), box(6), box(7)] },
      focusRects: [],
    });
    expect(late).toMatchObject({ faces: 0, facesRemoved: 0, focusRects: 0, focusRectsRemoved: 0 });
    expect(await stored()).toEqual({ faces: [1], rects: [10] });
    // An X page (no boxes) at 04:00 moves the media row's clock, not the boxes'.
    await observe('x', 4, { altText: 'a photo' });
    // So an agntdata page at 03:00 is still the newest word on boxes.
    await observe('agntdata', 3, { faces: { orig: [box(2), box(3)] }, focusRects: [] });
    expect(await stored()).toEqual({ faces: [2, 3], rects: [] });
  });

  it('a newer value replaces a stored one; neither null nor a missing field erases it', async () => {
    await upsertPage(
      db,
      page({ observedAt: T1, tweets: [tweet('901', { lang: 'en', source: 'web', text: 'a' })] }),
    );
    await upsertPage(
      db,
      page({
        observedAt: T2,
        tweets: [tweet('901', { lang: null, source: undefined, text: 'b' })],
      }),
    );
    const [t] = await rows<Record<string, unknown>>(
      db,
      sql`select lang, source, text from tweets where id = 901`,
    );
    expect(t).toEqual({ lang: 'en', source: 'web', text: 'b' });
    // A row first seen with null stores null; a later value fills it.
    await upsertPage(db, page({ observedAt: T1, tweets: [tweet('902', { lang: null })] }));
    await upsertPage(db, page({ observedAt: T1, tweets: [tweet('902', { lang: 'fr' })] }));
    const [u] = await rows<Record<string, unknown>>(
      db,
      sql`select lang from tweets where id = 902`,
    );
    expect(u).toEqual({ lang: 'fr' });
  });

  it('folds duplicate keys inside one page', async () => {
    const result = await upsertPage(
      db,
      page({
        users: [user('1001', { username: 'a' }), user('1001', { name: 'A' })],
        tweets: [
          tweet('1002', { text: 'inside', fromTimeline: false }),
          tweet('1002', { likeCount: 3 }),
        ],
        media: [photo('3_1003'), photo('3_1003', { url: 'u' })],
        tweetMedia: [
          { tweetId: '1002', mediaKey: '3_1003', position: 0 },
          { tweetId: '1002', mediaKey: '3_1003', position: 0 },
        ],
      }),
    );
    expect(result).toMatchObject({ tweetsNew: 1, usersNew: 1, mediaNew: 1, tweetMedia: 1 });
    const [t] = await rows<Record<string, unknown>>(
      db,
      sql`select text, like_count::int, from_timeline from tweets where id = 1002`,
    );
    expect(t).toEqual({ text: 'inside', like_count: 3, from_timeline: true });
    const [u] = await rows<Record<string, unknown>>(
      db,
      sql`select username, name from users where id = 1001`,
    );
    expect(u).toEqual({ username: 'a', name: 'A' });
  });

  it('writes a page past the 65,535-parameter limit of one-parameter-per-value inserts', async () => {
    // 3,000 tweets × 22 reported fields = 66,000 values: one array parameter per column keeps
    // the statement at a few dozen parameters.
    const tweets = Array.from({ length: 3000 }, (_, i) =>
      tweet(String(7_000_000_000n + BigInt(i)), {
        authorId: '42',
        createdAt: T1,
        text: `t${i}`,
        lang: 'en',
        conversationId: '1',
        inReplyToTweetId: null,
        inReplyToUserId: null,
        quotedTweetId: null,
        retweetedTweetId: null,
        likeCount: i,
        retweetCount: 1,
        replyCount: 2,
        quoteCount: 3,
        bookmarkCount: 4,
        viewCount: 5,
        impressionCount: 6,
        source: 'web',
        possiblySensitive: false,
        entities: { urls: [] },
        editHistoryTweetIds: [String(7_000_000_000n + BigInt(i))],
      }),
    );
    const result = await upsertPage(db, page({ tweets }));
    expect(result).toMatchObject({ tweetsNew: 3000, tweetMetrics: 3000 });
    const [n] = await rows<{ n: number; likes: number }>(
      db,
      sql`select count(*)::int as n, sum(like_count)::int as likes from tweets where id between 7000000000 and 7000002999`,
    );
    expect(n).toEqual({ n: 3000, likes: (2999 * 3000) / 2 });
  });

  it('rolls back the page, its raw body and inTransaction work together', async () => {
    const before = await counts(db);
    await expect(
      upsertPage(db, page({ tweets: [tweet('1101', { text: 'never' })] }), {
        raw: { body: '{}', requestUrl: 'u', status: 200 },
        inTransaction: async (tx) => {
          await tx.execute(sql`select 1`);
          throw new Error('checkpoint failed');
        },
      }),
    ).rejects.toThrow('checkpoint failed');
    const after = await counts(db);
    expect(after.tweets).toBe(before.tweets);
    expect(after.raw_pages).toBe(before.raw_pages);
  });

  it('runs inTransaction in the page transaction: it sees the page rows', async () => {
    let seen = -1;
    let counted = -1;
    await upsertPage(db, page({ tweets: [tweet('1201')] }), {
      inTransaction: async (tx, written) => {
        const result = await tx.execute(sql`select count(*)::int as n from tweets where id = 1201`);
        seen = rowsOf<{ n: number }>(result)[0]!.n;
        counted = written.tweetsNew;
      },
    });
    expect(seen).toBe(1);
    expect(counted).toBe(1);
  });

  it('rejects an id that is not a decimal bigint, naming where, and writes nothing', async () => {
    const before = await counts(db);
    const bad = page({ tweets: [tweet('1301'), tweet('1302', { authorId: '12e3' })] });
    await expect(upsertPage(db, bad)).rejects.toThrow(InvalidPageError);
    await expect(upsertPage(db, bad)).rejects.toThrow(/tweets\[1\]\.authorId/);
    expect(await counts(db)).toEqual(before);
  });
});

describe('upsertPage with parallel writers on Postgres', () => {
  let testDb: TestDatabase;
  let database: Database;
  beforeAll(async () => {
    testDb = await createTestDatabase('upsert_parallel');
    database = await openDatabase({ url: testDb.url, maxConnections: 4 });
    await migrate(database.db);
  });
  afterAll(async () => {
    await database?.close();
    await testDb?.drop();
  });

  it('pages sharing authors and tweets, written 4 at a time, neither deadlock nor lose rows', async () => {
    const authors = Array.from({ length: 12 }, (_, i) =>
      String(5_000_000_000_000_000_000n + BigInt(i)),
    );
    const pages = Array.from({ length: 40 }, (_, p) => {
      // Every page shares authors and quoted tweets with the others, in a different order, and
      // reports a different subset of fields, as pages of two providers would.
      const mine = authors.filter((_, i) => (i + p) % 3 !== 0).reverse();
      return page({
        observedAt: new Date(Date.UTC(2025, 0, 1, 0, p)),
        users: mine.map((id, i) =>
          user(id, {
            username: `u${id.slice(-2)}`,
            followersCount: p * 10 + i,
            location: p % 2 === 0 ? 'here' : undefined,
            verifiedType: p % 3 === 0 ? 'blue' : undefined,
          }),
        ),
        tweets: [
          ...Array.from({ length: 10 }, (_, t) =>
            tweet(String(9_000_000 + p * 10 + t), {
              authorId: mine[t % mine.length],
              likeCount: t,
            }),
          ),
          ...[1, 2, 3].map((q) =>
            tweet(String(8_000_000 + ((p + q) % 5)), { fromTimeline: false, likeCount: p }),
          ),
        ],
      });
    });
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < pages.length) await upsertPage(database.db, pages[next++]!);
      }),
    );
    const [n] = rowsOf<{ users: number; tweets: number; located: number }>(
      await database.db.execute(sql`select
        (select count(*)::int from users) as users,
        (select count(*)::int from tweets) as tweets,
        (select count(*)::int from users where location = 'here') as located`),
    );
    expect(n).toEqual({ users: 12, tweets: 400 + 5, located: 12 });
  });
});
