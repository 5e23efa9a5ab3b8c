import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type Database, migrate, openDatabase, upsertTarget } from '@birdfeed/db';
import { createRedisConnection } from '@birdfeed/jobs';
import type { ProviderName } from '@birdfeed/model';
import pg from 'pg';
import { type RunningSandbox, type SandboxOptions, startSandbox } from '../../sandbox/src/index.ts';

/**
 * Shared setup of the worker/scheduler integration tests and the crawl bench: a sandbox on a
 * free port, a database of its own, a Redis prefix of its own, and the environment a
 * `birdfeed worker` / `birdfeed scheduler` process needs to reach them. Nothing is mocked.
 */

const REPO_ROOT_URL = new URL('../../../', import.meta.url);
export const REPO_ROOT = fileURLToPath(REPO_ROOT_URL);

export interface CrawlFixture {
  sandbox: RunningSandbox;
  database: Database;
  databaseUrl: string;
  pool: pg.Pool;
  prefix: string;
  redisUrl: string;
  /** The process environment of a worker or scheduler wired to all of the above. */
  env(extra?: Record<string, string>): Record<string, string>;
  close(): Promise<void>;
}

export interface CrawlFixtureOptions {
  databaseUrl: string;
  redisUrl: string;
  prefix: string;
  sandbox: SandboxOptions;
  dropDatabase?: () => Promise<void>;
}

export async function createCrawlFixture(options: CrawlFixtureOptions): Promise<CrawlFixture> {
  const sandbox = await startSandbox({ port: 0, ...options.sandbox });
  const database = await openDatabase({ url: options.databaseUrl });
  await migrate(database.db);
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 3 });
  // The database is dropped WITH (FORCE) at the end; a client still closing must not crash.
  pool.on('error', () => {});
  const env = (extra: Record<string, string> = {}): Record<string, string> => ({
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    DATABASE_URL: options.databaseUrl,
    REDIS_URL: options.redisUrl,
    BIRDFEED_QUEUE_PREFIX: options.prefix,
    X_API_BASE_URL: sandbox.url,
    AGNTDATA_BASE_URL: sandbox.url,
    X_BEARER_TOKEN: sandbox.xBearerTokens[0] ?? 'sandbox-x-token',
    AGNTDATA_API_KEY: sandbox.agntdataApiKeys[0] ?? 'sandbox-agntdata-key',
    LOG_LEVEL: 'warn',
    ...extra,
  });
  return {
    sandbox,
    database,
    databaseUrl: options.databaseUrl,
    pool,
    prefix: options.prefix,
    redisUrl: options.redisUrl,
    env,
    async close() {
      const results = await Promise.allSettled([
        sandbox.stop(),
        pool.end(),
        database.close(),
        deleteRedisPrefix(options.redisUrl, options.prefix),
      ]);
      if (options.dropDatabase !== undefined) await options.dropDatabase();
      const failed = results.find((result) => result.status === 'rejected');
      if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
    },
  };
}

/** Removes every key under the prefix (queues, limiter, dedup keys, the queue registry). */
export async function deleteRedisPrefix(redisUrl: string, prefix: string): Promise<void> {
  const redis = createRedisConnection({ url: redisUrl, role: 'producer' });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    await redis.quit();
  }
}

export async function watchAccounts(
  fixture: CrawlFixture,
  userIds: readonly string[],
  provider: ProviderName,
  backfillDepth = 3200,
): Promise<void> {
  for (const userId of userIds) {
    await upsertTarget(fixture.database.db, { provider, userId, backfillDepth });
  }
}

export interface TruthDiff {
  userId: string;
  missingTweets: string[];
  extraTweets: string[];
  duplicateTweets: number;
  mediaLinks: { missing: string[]; extra: string[] };
  faces: { missing: string[]; extra: string[] };
  focusRects: { missing: string[]; extra: string[] };
  /** What the truth holds, so a test can tell an exact match from an empty one. */
  expected: { tweets: number; mediaLinks: number; faces: number; focusRects: number };
}

export function isExact(diff: TruthDiff): boolean {
  return (
    diff.missingTweets.length === 0 &&
    diff.extraTweets.length === 0 &&
    diff.duplicateTweets === 0 &&
    diff.mediaLinks.missing.length === 0 &&
    diff.mediaLinks.extra.length === 0 &&
    diff.faces.missing.length === 0 &&
    diff.faces.extra.length === 0 &&
    diff.focusRects.missing.length === 0 &&
    diff.focusRects.extra.length === 0
  );
}

function setDiff(expected: Set<string>, actual: Set<string>) {
  return {
    missing: [...expected].filter((item) => !actual.has(item)).slice(0, 10),
    extra: [...actual].filter((item) => !expected.has(item)).slice(0, 10),
  };
}

/**
 * Compares what Postgres holds for one account with what the sandbox knows it has. X serves
 * every tweet but no faces or focus rects; agntdata serves only tweets with media, with faces
 * and focus rects. So the comparison follows the provider the account was crawled through.
 */
export async function diffWithTruth(
  fixture: CrawlFixture,
  userId: string,
  provider: ProviderName,
): Promise<TruthDiff> {
  const truth = fixture.sandbox.truth(userId);
  const truthTweets =
    provider === 'x' ? truth.tweets : truth.tweets.filter((t) => t.media.length > 0);
  const expectedIds = new Set(truthTweets.map((tweet) => tweet.id));
  const rows = (
    await fixture.pool.query<{ id: string }>(
      'SELECT id::text AS id FROM tweets WHERE author_id = $1::bigint',
      [userId],
    )
  ).rows;
  const actualIds = new Set(rows.map((row) => row.id));
  const ids = setDiff(expectedIds, actualIds);

  const tweetIds = [...expectedIds];
  const links = (
    await fixture.pool.query<{ tweet_id: string; media_key: string }>(
      'SELECT tweet_id::text AS tweet_id, media_key FROM tweet_media WHERE tweet_id = ANY($1::bigint[])',
      [tweetIds],
    )
  ).rows;
  const expectedLinks = new Set<string>();
  const expectedFaces = new Set<string>();
  const expectedRects = new Set<string>();
  for (const tweet of truthTweets) {
    for (const media of tweet.media) {
      expectedLinks.add(`${tweet.id}/${media.media_key}`);
      if (provider === 'agntdata') {
        for (const size of ['orig', 'large', 'medium', 'small'] as const) {
          media.faces[size].forEach((face, idx) => {
            expectedFaces.add(
              `${media.media_key}/${size}/${idx}/${face.x},${face.y},${face.w},${face.h}`,
            );
          });
        }
        media.focus_rects.forEach((rect, idx) => {
          expectedRects.add(`${media.media_key}/${idx}/${rect.x},${rect.y},${rect.w},${rect.h}`);
        });
      }
    }
  }
  const mediaKeys = [...new Set(links.map((link) => link.media_key))];
  const faces =
    provider === 'agntdata'
      ? (
          await fixture.pool.query<Record<string, string | number>>(
            'SELECT media_key, size, idx, x, y, w, h FROM media_faces WHERE media_key = ANY($1)',
            [mediaKeys],
          )
        ).rows.map((r) => `${r.media_key}/${r.size}/${r.idx}/${r.x},${r.y},${r.w},${r.h}`)
      : [];
  const rects =
    provider === 'agntdata'
      ? (
          await fixture.pool.query<Record<string, string | number>>(
            'SELECT media_key, idx, x, y, w, h FROM media_focus_rects WHERE media_key = ANY($1)',
            [mediaKeys],
          )
        ).rows.map((r) => `${r.media_key}/${r.idx}/${r.x},${r.y},${r.w},${r.h}`)
      : [];
  return {
    userId,
    missingTweets: ids.missing,
    extraTweets: ids.extra,
    duplicateTweets: rows.length - actualIds.size,
    mediaLinks: setDiff(
      expectedLinks,
      new Set(links.map((link) => `${link.tweet_id}/${link.media_key}`)),
    ),
    faces: setDiff(expectedFaces, new Set(faces)),
    focusRects: setDiff(expectedRects, new Set(rects)),
    expected: {
      tweets: expectedIds.size,
      mediaLinks: expectedLinks.size,
      faces: expectedFaces.size,
      focusRects: expectedRects.size,
    },
  };
}

/** The checkpoint of a target as text ids. */
export async function checkpointOf(fixture: CrawlFixture, provider: ProviderName, userId: string) {
  const rows = (
    await fixture.pool.query<{
      since_id: string | null;
      cursor: string | null;
      window_newest_id: string | null;
    }>(
      `SELECT since_id::text AS since_id, cursor, window_newest_id::text AS window_newest_id
       FROM crawl_checkpoints WHERE provider = $1 AND user_id = $2::bigint`,
      [provider, userId],
    )
  ).rows;
  return rows[0] ?? null;
}

export async function runOutcomes(fixture: CrawlFixture): Promise<Record<string, number>> {
  const rows = (
    await fixture.pool.query<{ outcome: string; n: string }>(
      'SELECT outcome, count(*) AS n FROM crawl_runs GROUP BY outcome',
    )
  ).rows;
  return Object.fromEntries(rows.map((row) => [row.outcome, Number(row.n)]));
}

export interface AppProcess {
  child: ChildProcess;
  /** Everything the process wrote, stdout and stderr. */
  output(): string;
  /** Resolves with the exit code (or the signal's name). */
  exited: Promise<number | string>;
}

/** Starts `birdfeed worker|scheduler` as a child process: `node --import tsx bin/birdfeed.ts …`. */
export function spawnApp(
  command: 'worker' | 'scheduler',
  argv: string[],
  env: Record<string, string>,
  nodeArgs: readonly string[] = [],
): AppProcess {
  const child = spawn(
    process.execPath,
    [
      ...nodeArgs,
      '--import',
      'tsx',
      fileURLToPath(new URL('bin/birdfeed.ts', REPO_ROOT_URL)),
      command,
      ...argv,
    ],
    { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | string>((resolve) => {
    // 'close' (after the pipes end), not 'exit': tests read the output once it resolves.
    child.once('close', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
  return { child, output: () => output, exited };
}

export async function waitUntil<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  what: string,
  intervalMs = 50,
): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() - started > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
