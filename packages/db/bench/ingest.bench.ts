/**
 * `pnpm bench:ingest`: how close the upsert path (normalize → upsertPage, 100-tweet pages,
 * parallel connections) comes to the ceiling of COPY into empty tables, for the same rows.
 *
 *   pnpm bench:ingest [--tweets 50000] [--authors 1000] [--connections 4] [--page-size 100]
 *
 * Uses two throwaway databases (created and dropped here) on BENCH_DATABASE_URL, else
 * TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres. The last line is
 * `bench:ingest first_load_ratio=R reupsert_ratio=S` (fractions of the COPY rate).
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import type { CanonicalPage } from '@birdfeed/model';
import { normalizeRaw } from '@birdfeed/providers';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { openDatabase } from '../src/database.ts';
import { migrate } from '../src/migrate.ts';
import { mediaTable, tweetsTable, usersTable } from '../src/upsert/entity-specs.ts';
import { pageRows } from '../src/upsert/page-rows.ts';
import { type EntityTable, encodeElement } from '../src/upsert/unnest-upsert.ts';
import { upsertPage } from '../src/upsert/upsert-page.ts';
import { generateBodies } from './corpus.ts';

const { values } = parseArgs({
  options: {
    tweets: { type: 'string', default: '50000' },
    authors: { type: 'string', default: '1000' },
    'authors-per-page': { type: 'string', default: '20' },
    'page-size': { type: 'string', default: '100' },
    connections: { type: 'string', default: '4' },
  },
});
const TWEETS = Number(values.tweets);
const AUTHORS = Number(values.authors);
const PAGE_SIZE = Number(values['page-size']);
const CONNECTIONS = Number(values.connections);
const ADMIN_URL =
  process.env.BENCH_DATABASE_URL ??
  process.env.TEST_DATABASE_URL ??
  'postgres://postgres@127.0.0.1:5432/postgres';

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const log = (line: string) => process.stdout.write(`${line}\n`);

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function databaseUrl(name: string): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

async function runPool<T>(items: T[], concurrency: number, work: (item: T) => Promise<unknown>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const item = items[next++]!;
        await work(item);
      }
    }),
  );
}

// --- COPY: the same rows, text format, into the freshly migrated (empty) tables -----------

function copyField(value: unknown): string {
  if (value === null || value === undefined) return '\\N';
  return String(value).replace(/[\\\t\n\r]/g, (c) =>
    c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r',
  );
}

interface CopyTable {
  table: string;
  columns: string[];
  rows: unknown[][];
}

function entityCopy<R>(spec: EntityTable<R>, rows: R[], observedAt: Date): CopyTable {
  const merged = spec.merged.filter((c) => rows.some((row) => c.value(row) !== undefined));
  const extra = spec.extra ?? [];
  const at = observedAt.toISOString();
  return {
    table: spec.table,
    columns: [
      spec.key.name,
      ...merged.map((c) => c.name),
      ...extra.map((c) => c.name),
      'observed_at',
      'first_seen_at',
      'last_seen_at',
    ],
    rows: rows.map((row) => [
      spec.key.value(row),
      ...merged.map((c) => encodeElement(c.type, c.value(row))),
      ...extra.map((c) => encodeElement(c.type, c.value(row))),
      at,
      at,
      at,
    ]),
  };
}

function copyTables(pages: CanonicalPage[]): CopyTable[] {
  const observedAt = pages[0]!.observedAt;
  const at = observedAt.toISOString();
  const users = new Map<string, CanonicalPage['users'][number]>();
  const tweets: CanonicalPage['tweets'] = [];
  const media: CanonicalPage['media'] = [];
  const tweetMedia: unknown[][] = [];
  const faces: unknown[][] = [];
  const focus: unknown[][] = [];
  for (const page of pages) {
    const rows = pageRows(page);
    for (const u of rows.users) users.set(u.id, u);
    tweets.push(...rows.tweets);
    media.push(...rows.media);
    for (const l of rows.tweetMedia) tweetMedia.push([l.tweetId, l.mediaKey, l.position]);
    for (const f of rows.faces) {
      faces.push([f.mediaKey, f.size, f.idx, f.rect.x, f.rect.y, f.rect.w, f.rect.h]);
    }
    for (const f of rows.focusRects) {
      focus.push([f.mediaKey, f.idx, f.rect.x, f.rect.y, f.rect.w, f.rect.h]);
    }
  }
  const userList = [...users.values()];
  return [
    entityCopy(usersTable, userList, observedAt),
    {
      table: 'user_metrics',
      columns: [
        'user_id',
        'observed_at',
        'followers_count',
        'following_count',
        'tweet_count',
        'listed_count',
        'like_count',
      ],
      rows: userList.map((u) => [
        u.id,
        at,
        u.followersCount,
        u.followingCount,
        u.tweetCount,
        u.listedCount,
        u.likeCount,
      ]),
    },
    entityCopy(tweetsTable, tweets, observedAt),
    {
      table: 'tweet_metrics',
      columns: [
        'tweet_id',
        'observed_at',
        'like_count',
        'retweet_count',
        'reply_count',
        'quote_count',
        'bookmark_count',
        'impression_count',
        'view_count',
      ],
      rows: tweets.map((t) => [
        t.id,
        at,
        t.likeCount,
        t.retweetCount,
        t.replyCount,
        t.quoteCount,
        t.bookmarkCount,
        t.impressionCount,
        t.viewCount,
      ]),
    },
    entityCopy(mediaTable, media, observedAt),
    { table: 'tweet_media', columns: ['tweet_id', 'media_key', 'position'], rows: tweetMedia },
    {
      table: 'media_faces',
      columns: ['media_key', 'size', 'idx', 'x', 'y', 'w', 'h'],
      rows: faces,
    },
    { table: 'media_focus_rects', columns: ['media_key', 'idx', 'x', 'y', 'w', 'h'], rows: focus },
  ];
}

async function copyLoad(url: string, pages: CanonicalPage[]): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('begin');
    for (const table of copyTables(pages)) {
      const stream = client.query(
        copyFrom(`copy ${table.table} (${table.columns.join(', ')}) from stdin`),
      );
      async function* lines() {
        let chunk = '';
        for (const row of table.rows) {
          chunk += `${row.map(copyField).join('\t')}\n`;
          if (chunk.length > 256 * 1024) {
            yield chunk;
            chunk = '';
          }
        }
        if (chunk !== '') yield chunk;
      }
      await pipeline(Readable.from(lines()), stream);
    }
    await client.query('commit');
  } finally {
    await client.end();
  }
}

async function tableCounts(url: string): Promise<Record<string, number>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const out: Record<string, number> = {};
    for (const table of [
      'users',
      'user_metrics',
      'tweets',
      'tweet_metrics',
      'media',
      'tweet_media',
      'media_faces',
      'media_focus_rects',
    ]) {
      const { rows } = await client.query<{ n: number }>(`select count(*)::int as n from ${table}`);
      out[table] = rows[0]!.n;
    }
    return out;
  } finally {
    await client.end();
  }
}

async function main(): Promise<number> {
  const suffix = randomUUID().replaceAll('-', '').slice(0, 10);
  const upsertDb = `bf_bench_ingest_${suffix}_upsert`;
  const copyDb = `bf_bench_ingest_${suffix}_copy`;
  await admin(async (client) => {
    await client.query(`create database "${upsertDb}"`);
    await client.query(`create database "${copyDb}"`);
  });
  try {
    const bodies = generateBodies({
      tweets: TWEETS,
      authors: AUTHORS,
      pageSize: PAGE_SIZE,
      authorsPerPage: Number(values['authors-per-page']),
    });
    log(
      `bench:ingest corpus: ${fmt(TWEETS)} tweets in ${bodies.length} agntdata pages of ${PAGE_SIZE}, ${fmt(AUTHORS)} authors, 1 photo + 8 faces + 5 focus rects per tweet`,
    );

    const firstSeen = new Date('2025-05-21T12:00:00Z');
    let started = performance.now();
    const pages = bodies.map((body, i) =>
      normalizeRaw('agntdata', body, {
        userId: String(1300000000000000000n + BigInt(i)),
        observedAt: firstSeen,
      }),
    );
    const normalizeSeconds = (performance.now() - started) / 1000;
    log(`normalize (JSON.parse + zod + normalize): ${fmt(TWEETS / normalizeSeconds)} tweets/s`);

    const upsertTarget = await openDatabase({
      url: databaseUrl(upsertDb),
      maxConnections: CONNECTIONS,
    });
    const copyTarget = await openDatabase({ url: databaseUrl(copyDb), maxConnections: 1 });
    await migrate(upsertTarget.db);
    await migrate(copyTarget.db);
    await copyTarget.close();

    started = performance.now();
    await copyLoad(databaseUrl(copyDb), pages);
    const copyRate = TWEETS / ((performance.now() - started) / 1000);
    log(`COPY into empty tables (1 connection, the ceiling): ${fmt(copyRate)} tweets/s`);

    started = performance.now();
    await runPool(pages, CONNECTIONS, (page) => upsertPage(upsertTarget.db, page));
    const firstRate = TWEETS / ((performance.now() - started) / 1000);
    log(
      `upsertPage first load (${CONNECTIONS} connections, ${PAGE_SIZE}-tweet pages): ${fmt(firstRate)} tweets/s`,
    );

    const [copied, upserted] = await Promise.all([
      tableCounts(databaseUrl(copyDb)),
      tableCounts(databaseUrl(upsertDb)),
    ]);
    const mismatched = Object.keys(copied).filter((table) => copied[table] !== upserted[table]);
    log(
      `rows: ${Object.entries(upserted)
        .map(([t, n]) => `${t}=${fmt(n)}`)
        .join(' ')}`,
    );
    if (mismatched.length > 0) {
      log(`bench:ingest MISMATCH between COPY and upsert in ${mismatched.join(', ')}`);
      log(`copy rows: ${JSON.stringify(copied)}`);
      await upsertTarget.close();
      return 1;
    }

    // The same rows observed again an hour later: every row exists, nothing changed.
    const again = new Date(firstSeen.getTime() + 3_600_000);
    const reobserved = pages.map((page) => ({ ...page, observedAt: again }));
    started = performance.now();
    await runPool(reobserved, CONNECTIONS, (page) => upsertPage(upsertTarget.db, page));
    const reRate = TWEETS / ((performance.now() - started) / 1000);
    log(`upsertPage re-upsert, rows exist (${CONNECTIONS} connections): ${fmt(reRate)} tweets/s`);
    await upsertTarget.close();

    const first = firstRate / copyRate;
    const re = reRate / copyRate;
    log(`bench:ingest first_load_ratio=${first.toFixed(2)} reupsert_ratio=${re.toFixed(2)}`);
    return 0;
  } finally {
    await admin(async (client) => {
      await client.query(`drop database if exists "${upsertDb}" with (force)`);
      await client.query(`drop database if exists "${copyDb}" with (force)`);
    });
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `bench:ingest failed: ${error instanceof Error ? error.stack : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
