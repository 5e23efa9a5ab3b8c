/**
 * `pnpm bench:ingest`: how close the upsert path (normalize → upsertPage, 100-tweet pages,
 * parallel connections) comes to the ceiling of COPY into empty tables, for the same rows.
 *
 *   pnpm bench:ingest [--tweets 50000] [--authors 1000] [--connections 4] [--page-size 100]
 *
 * The ceiling is COPY into empty tables on one connection, 5,000 tweets per transaction; COPY
 * with one transaction per 100-tweet page (the unit a crawler commits) is printed for
 * reference. The four ways of writing take turns over ten slices of the corpus, so load from
 * other processes on the shared cores hits them alike.
 *
 * Uses three throwaway databases (created and dropped here) on BENCH_DATABASE_URL, else
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
    rounds: { type: 'string', default: '10' },
  },
});
const TWEETS = Number(values.tweets);
const AUTHORS = Number(values.authors);
const PAGE_SIZE = Number(values['page-size']);
const CONNECTIONS = Number(values.connections);
const ROUNDS = Number(values.rounds);
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
      ...extra.map((c) => encodeElement(c.type, c.value(row, observedAt))),
      at,
      at,
      at,
    ]),
  };
}

/**
 * The rows of `pages` as COPY tables. `seenUsers` carries the users already copied by earlier
 * calls: COPY cannot upsert, so each author goes in with the first page that has it.
 */
function copyTables(pages: CanonicalPage[], seenUsers: Set<string>): CopyTable[] {
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
    for (const u of rows.users) {
      if (!seenUsers.has(u.id)) users.set(u.id, u);
    }
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
  for (const id of users.keys()) seenUsers.add(id);
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

async function copyTable(client: pg.Client, table: CopyTable): Promise<void> {
  if (table.rows.length === 0) return;
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

/**
 * COPY on one connection. `perPage`: one transaction per page, as pages arrive in the crawler
 * (each committed on its own with its checkpoint); otherwise the whole corpus in one.
 */
async function copyLoad(
  url: string,
  pages: CanonicalPage[],
  perPage: boolean,
  seenUsers: Set<string>,
): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const batch of perPage ? pages.map((page) => [page]) : [pages]) {
      await client.query('begin');
      for (const table of copyTables(batch, seenUsers)) await copyTable(client, table);
      await client.query('commit');
    }
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
  const bulkDb = `bf_bench_ingest_${suffix}_bulk`;
  await admin(async (client) => {
    for (const name of [upsertDb, copyDb, bulkDb]) await client.query(`create database "${name}"`);
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
    const started = performance.now();
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
    await migrate(upsertTarget.db);
    for (const name of [copyDb, bulkDb]) {
      const target = await openDatabase({ url: databaseUrl(name), maxConnections: 1 });
      await migrate(target.db);
      await target.close();
    }

    // Other processes share these two cores, so the four ways of writing take turns, round
    // by round, over slices of the corpus: a burst of outside load hits all of them alike.
    // The re-upsert of a slice follows its first load, so every row it writes exists.
    const again = new Date(firstSeen.getTime() + 3_600_000);
    const seconds = { bulk: 0, copy: 0, first: 0, re: 0 };
    const seenBulk = new Set<string>();
    const seenCopy = new Set<string>();
    const perRound = Math.ceil(pages.length / ROUNDS);
    const timed = async (key: keyof typeof seconds, work: () => Promise<unknown>) => {
      const start = performance.now();
      await work();
      seconds[key] += (performance.now() - start) / 1000;
    };
    for (let round = 0; round < ROUNDS; round += 1) {
      const slice = pages.slice(round * perRound, (round + 1) * perRound);
      if (slice.length === 0) break;
      await timed('bulk', () => copyLoad(databaseUrl(bulkDb), slice, false, seenBulk));
      await timed('copy', () => copyLoad(databaseUrl(copyDb), slice, true, seenCopy));
      await timed('first', () =>
        runPool(slice, CONNECTIONS, (page) => upsertPage(upsertTarget.db, page)),
      );
      // The same rows observed again an hour later: every row exists, nothing changed.
      const reobserved = slice.map((page) => ({ ...page, observedAt: again }));
      await timed('re', () =>
        runPool(reobserved, CONNECTIONS, (page) => upsertPage(upsertTarget.db, page)),
      );
    }
    const bulkRate = TWEETS / seconds.bulk;
    const copyRate = TWEETS / seconds.copy;
    const firstRate = TWEETS / seconds.first;
    const reRate = TWEETS / seconds.re;
    const first = firstRate / bulkRate;
    const re = reRate / bulkRate;
    log(
      `COPY into empty tables, ${fmt(perRound * PAGE_SIZE)} tweets per transaction (1 connection; the ceiling): ${fmt(bulkRate)} tweets/s`,
    );
    log(
      `COPY, one transaction per ${PAGE_SIZE}-tweet page (1 connection; for reference): ${fmt(copyRate)} tweets/s`,
    );
    log(
      `upsertPage first load (${CONNECTIONS} connections, ${PAGE_SIZE}-tweet pages): ${fmt(firstRate)} tweets/s = ${first.toFixed(2)} of COPY (${(firstRate / copyRate).toFixed(2)} of per-page COPY)`,
    );
    log(
      `upsertPage re-upsert, rows exist (${CONNECTIONS} connections): ${fmt(reRate)} tweets/s = ${re.toFixed(2)} of COPY (${(reRate / copyRate).toFixed(2)} of per-page COPY)`,
    );

    const [copied, bulk, upserted] = await Promise.all([
      tableCounts(databaseUrl(copyDb)),
      tableCounts(databaseUrl(bulkDb)),
      tableCounts(databaseUrl(upsertDb)),
    ]);
    const mismatched = Object.keys(copied).filter(
      (table) => copied[table] !== upserted[table] || bulk[table] !== upserted[table],
    );
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

    await upsertTarget.close();

    log(`bench:ingest first_load_ratio=${first.toFixed(2)} reupsert_ratio=${re.toFixed(2)}`);
    return 0;
  } finally {
    await admin(async (client) => {
      for (const name of [upsertDb, copyDb, bulkDb]) {
        await client.query(`drop database if exists "${name}" with (force)`);
      }
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
