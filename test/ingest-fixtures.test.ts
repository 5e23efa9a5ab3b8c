import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { type BirdfeedDb, type Database, openDatabase, rowsOf, sql } from '@birdfeed/db';
import type { ProviderName } from '@birdfeed/model';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main as ingest } from '../bin/commands/ingest.ts';
import { normalizeFile } from '../bin/commands/normalize.ts';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';

const FIXTURES = join(import.meta.dirname, '../../shared/fixtures/real');
const AGNTDATA_DOCS = join(FIXTURES, 'agntdata/user_medias_docs_example.json');

function walk(dir: string): string[] {
  return readdirSync(dir)
    .flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? walk(path) : [path];
    })
    .filter((path) => /\.jsonl?$/.test(path))
    .sort();
}

const fixtures = walk(FIXTURES).map((file) => ({
  file,
  provider: (relative(FIXTURES, file).startsWith('agntdata/') ? 'agntdata' : 'x') as ProviderName,
}));

/** Runs `birdfeed ingest` in-process and captures what it prints. */
async function runIngest(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    out += String(chunk);
    return true;
  });
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    err += String(chunk);
    return true;
  });
  try {
    const code = await ingest(args);
    return { code, out, err };
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
}

const TABLES = [
  'users',
  'user_metrics',
  'tweets',
  'tweet_metrics',
  'tweet_references',
  'media',
  'tweet_media',
  'media_faces',
  'media_focus_rects',
  'raw_pages',
] as const;

async function counts(db: BirdfeedDb): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of TABLES) {
    const [row] = rowsOf<{ n: number }>(
      await db.execute(sql.raw(`select count(*)::int as n from ${table}`)),
    );
    out[table] = row!.n;
  }
  return out;
}

function tempFile(name: string, text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'bf-ingest-')), name);
  writeFileSync(path, text);
  return path;
}

/** An X v2 page (as the API sends it) for the agntdata docs example's first tweet and photo. */
function xBodyForDocsTweet(altText: string): string {
  return JSON.stringify({
    data: [
      {
        id: '1925089021710983421',
        text: 'https://t.co/3ERunjJrHf',
        author_id: '44196397',
        created_at: '2025-05-21T07:19:23.000Z',
        edit_history_tweet_ids: ['1925089021710983421'],
        attachments: { media_keys: ['3_1925089019097927680'] },
        public_metrics: {
          like_count: 1,
          retweet_count: 1,
          reply_count: 1,
          quote_count: 1,
          bookmark_count: 1,
          impression_count: 1,
        },
      },
    ],
    includes: {
      media: [
        {
          media_key: '3_1925089019097927680',
          type: 'photo',
          url: 'https://pbs.twimg.com/media/GrbeOjpWgAA6v-K.jpg',
          width: 1100,
          height: 1705,
          alt_text: altText,
        },
      ],
      users: [{ id: '44196397', name: 'Elon Musk', username: 'elonmusk' }],
    },
    meta: {
      result_count: 1,
      newest_id: '1925089021710983421',
      oldest_id: '1925089021710983421',
    },
  });
}

describe('birdfeed ingest of the real fixtures', () => {
  let testDb: TestDatabase;
  let database: Database;
  let db: BirdfeedDb;
  const savedUrl = process.env.DATABASE_URL;

  beforeAll(async () => {
    testDb = await createTestDatabase('ingest');
    process.env.DATABASE_URL = testDb.url;
    database = await openDatabase({ url: testDb.url });
    db = database.db;
  });
  afterAll(async () => {
    if (savedUrl === undefined) delete process.env.DATABASE_URL;
    else process.env.DATABASE_URL = savedUrl;
    await database?.close();
    await testDb?.drop();
  });

  it("observes a twarc page at its own retrieved_at, not at the file's save time", () => {
    const file = join(FIXTURES, 'x-v2/tidy_tweet/ObservatoryTeam.jsonl');
    const normalized = normalizeFile('x', file, readFileSync(file, 'utf8'), {
      savedAt: new Date('2026-11-24T15:32:37Z'),
    });
    const times = normalized.pages.map(({ page }) => page.observedAt.toISOString());
    expect(times.length).toBeGreaterThan(1);
    for (const time of times) expect(time).toMatch(/^2021-10-06T06:02:/);
  });

  it('ingests every real fixture, every timeline page of it, and a second time changes no row count', async () => {
    const expectedTweets = new Set<string>();
    const expectedMedia = new Set<string>();
    let pages = 0;
    for (const { provider, file } of fixtures) {
      const normalized = normalizeFile(provider, file, readFileSync(file, 'utf8'));
      pages += normalized.pages.length;
      for (const { page } of normalized.pages) {
        for (const tweet of page.tweets) expectedTweets.add(tweet.id);
        for (const media of page.media) expectedMedia.add(media.mediaKey);
      }
    }
    expect(pages).toBeGreaterThan(40);

    for (const provider of ['x', 'agntdata'] as const) {
      const files = fixtures.filter((f) => f.provider === provider).map((f) => f.file);
      const run = await runIngest(['--provider', provider, ...files]);
      expect(run.err).not.toMatch(/invalid at/);
      expect(run.code).toBe(0);
      for (const file of files) expect(run.out).toContain(`${file}: `);
    }
    const first = await counts(db);
    expect(first.tweets).toBe(expectedTweets.size);
    expect(first.media).toBe(expectedMedia.size);
    expect(first.media_faces).toBeGreaterThan(0);

    const again = await runIngest([
      '--provider',
      'x',
      ...fixtures.filter((f) => f.provider === 'x').map((f) => f.file),
    ]);
    expect(again.code).toBe(0);
    expect(again.out).not.toMatch(/tweets\s+[1-9]\d* new/);
    await runIngest(['--provider', 'agntdata', AGNTDATA_DOCS]);
    expect(await counts(db)).toEqual(first);
  });

  it('lands the faces and focus rects of the agntdata docs example exactly', async () => {
    await runIngest(['--provider', 'agntdata', AGNTDATA_DOCS]);
    const raw = JSON.parse(readFileSync(AGNTDATA_DOCS, 'utf8')) as {
      results: {
        tweet_id: string;
        extended_entities: {
          media: {
            media_key: string;
            original_info: { focus_rects: { x: number; y: number; w: number; h: number }[] };
            features: Record<string, { faces: { x: number; y: number; w: number; h: number }[] }>;
          }[];
        };
      }[];
    };
    let photos = 0;
    for (const result of raw.results) {
      for (const media of result.extended_entities.media) {
        photos += 1;
        const expectedFaces = Object.entries(media.features)
          .flatMap(([size, { faces }]) =>
            faces.map((f, idx) => ({ size, idx, x: f.x, y: f.y, w: f.w, h: f.h })),
          )
          .sort((a, b) => a.size.localeCompare(b.size) || a.idx - b.idx);
        const faces = rowsOf(
          await db.execute(
            sql`select size, idx, x, y, w, h from media_faces where media_key = ${media.media_key} order by size, idx`,
          ),
        );
        expect(faces).toEqual(expectedFaces);
        const rects = rowsOf(
          await db.execute(
            sql`select x, y, w, h from media_focus_rects where media_key = ${media.media_key} order by idx`,
          ),
        );
        expect(rects).toEqual(
          media.original_info.focus_rects.map(({ x, y, w, h }) => ({ x, y, w, h })),
        );
      }
    }
    expect(photos).toBe(3);
    // The first photo: 2 faces in each of the 4 sizes, 5 focus rects.
    const [first] = rowsOf<{ sizes: number; faces: number; rects: number }>(
      await db.execute(sql`select
        (select count(distinct size)::int from media_faces where media_key = '3_1925089019097927680') as sizes,
        (select count(*)::int from media_faces where media_key = '3_1925089019097927680') as faces,
        (select count(*)::int from media_focus_rects where media_key = '3_1925089019097927680') as rects`),
    );
    expect(first).toEqual({ sizes: 4, faces: 8, rects: 5 });
  });

  it("keeps X's alt_text and agntdata's faces for the same tweet, in either order", async () => {
    const xFile = tempFile('x-page.json', xBodyForDocsTweet('two people on a stage'));
    expect((await runIngest(['--provider', 'x', xFile])).code).toBe(0);
    expect((await runIngest(['--provider', 'agntdata', AGNTDATA_DOCS])).code).toBe(0);
    expect((await runIngest(['--provider', 'x', xFile])).code).toBe(0);
    const [media] = rowsOf<{ alt_text: string; faces: number }>(
      await db.execute(sql`select alt_text,
        (select count(*)::int from media_faces f where f.media_key = m.media_key) as faces
        from media m where media_key = '3_1925089019097927680'`),
    );
    expect(media).toEqual({ alt_text: 'two people on a stage', faces: 8 });
    const [tweet] = rowsOf<{ impression_count: string; bookmark_count: string }>(
      await db.execute(
        sql`select impression_count::text, bookmark_count::text from tweets where id = 1925089021710983421`,
      ),
    );
    // The X page was written last and observed last: its counts are the stored ones.
    expect(tweet).toEqual({ impression_count: '1', bookmark_count: '1' });
  });

  it('keeps a user id above 2^53 exact from the body to the row', async () => {
    const bigId = '1234567890123456789';
    expect(BigInt(bigId) > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
    const body = JSON.parse(xBodyForDocsTweet('x')) as {
      data: { id: string; author_id: string }[];
      includes: { users: { id: string }[]; media: unknown[] };
    };
    body.data[0]!.id = '1925089021710983999';
    body.data[0]!.author_id = bigId;
    body.includes.users[0]!.id = bigId;
    const file = tempFile('big.json', JSON.stringify(body));
    expect((await runIngest(['--provider', 'x', file])).code).toBe(0);
    const rows = rowsOf<{ id: string; author_id: string }>(
      await db.execute(
        sql`select u.id::text as id, t.author_id::text as author_id from users u join tweets t on t.author_id = u.id where t.id = 1925089021710983999`,
      ),
    );
    expect(rows).toEqual([{ id: bigId, author_id: bigId }]);
  });

  it('takes a file of 200 pages (20,000 tweets) in its one transaction without running out of locks', async () => {
    // Per-row advisory locks kept until the file's transaction commits would need ~20,000
    // entries of Postgres's shared lock table (~7,800 with the defaults): out of shared memory.
    const lines: string[] = [];
    for (let p = 0; p < 200; p += 1) {
      const data = Array.from({ length: 100 }, (_, i) => {
        const id = String(1_900_000_000_000_000_000n + BigInt(p * 100 + i));
        return {
          id,
          text: `page ${p} tweet ${i}`,
          author_id: '31337',
          created_at: '2025-05-21T07:19:23.000Z',
          edit_history_tweet_ids: [id],
          public_metrics: { retweet_count: 0, reply_count: 0, like_count: i, quote_count: 0 },
        };
      });
      lines.push(
        JSON.stringify({
          data,
          includes: { users: [{ id: '31337', name: 'Many Pages', username: 'many_pages' }] },
          meta: { result_count: 100, newest_id: data[0]!.id, oldest_id: data[99]!.id },
        }),
      );
    }
    const file = tempFile('many-pages.jsonl', `${lines.join('\n')}\n`);
    const run = await runIngest(['--provider', 'x', '--user-id', '31337', file]);
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    const [row] = rowsOf<{ n: number }>(
      await db.execute(sql`select count(*)::int as n from tweets where author_id = 31337`),
    );
    expect(row?.n).toBe(20_000);
  }, 60_000);

  it('refuses a malformed file whole: non-zero exit, the file and JSON path named, nothing written', async () => {
    const before = await counts(db);
    const good = JSON.parse(xBodyForDocsTweet('x')) as { data: { id: string }[] };
    good.data[0]!.id = '1925089021710984001';
    const bad = JSON.parse(xBodyForDocsTweet('x')) as { data: { id: string }[] };
    bad.data[0]!.id = '19250890217109840x2';
    // Line 1 is fine; line 2 has a non-decimal id: line 1 must not be written either.
    const jsonl = tempFile('pages.jsonl', `${JSON.stringify(good)}\n${JSON.stringify(bad)}\n`);
    const notJson = tempFile('truncated.json', xBodyForDocsTweet('x').slice(0, 200));
    const wrongShape = tempFile('shape.json', JSON.stringify({ data: [{ id: 5 }] }));

    const run = await runIngest(['--provider', 'x', jsonl, notJson, wrongShape]);
    expect(run.code).toBe(1);
    expect(run.err).toContain(jsonl);
    expect(run.err).toContain('pages.jsonl:2');
    expect(run.err).toMatch(/pages\.jsonl:2: invalid X timeline body at data\[0\]\.id/);
    expect(run.err).toContain(notJson);
    expect(run.err).toMatch(/truncated\.json: x response is not JSON at \$: /);
    expect(run.err).toContain(wrongShape);
    expect(await counts(db)).toEqual(before);
  });
});
