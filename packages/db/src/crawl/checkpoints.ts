import type { ProviderName } from '@birdfeed/model';
import { type SQL, sql } from 'drizzle-orm';
import { type BirdfeedExecutor, rowsOf } from '../database.ts';
import { toDate, toDateOrNull } from './targets.ts';
import type { TargetKey } from './types.ts';

/**
 * How far a timeline has been read (DESIGN.md, "The checkpoint"). `sinceId`: every tweet with a
 * smaller or equal id that the provider would return is stored. The window fields describe the
 * run in progress: a crash resumes from `cursor`.
 *
 * `windowFetched` is the `backfill_fetched` column: the timeline tweets read in the current
 * window. During a backfill it is measured against the target's depth; in an incremental window
 * it tells whether X's 3,200-tweet cap was reached (a gap).
 */
export interface CrawlCheckpoint extends TargetKey {
  sinceId: string | null;
  windowNewestId: string | null;
  cursor: string | null;
  windowStartedAt: Date | null;
  windowPages: number;
  backfillDone: boolean;
  windowFetched: number;
  /** X: the account's tweet_count on the window's first page that reported it. */
  windowAuthorTweets: number | null;
  /** The smallest timeline id listed so far in the window (ids at or below since_id too). */
  windowOldestId: string | null;
  /** Pages in a row, up to the last one, that came back empty with a next token. */
  windowEmptyPages: number;
  /**
   * X: the `until_id` the window's requests carry (exclusive), set when its cursor expired
   * after it had listed tweets: the rest of the window is read below the oldest of them (see
   * resumeWindowBelow). Null: the window is read from its top.
   */
  windowUntilId: string | null;
  /**
   * Windows in a row, across runs, given up on empty pages before they listed a tweet (the
   * `empty_giveups` column): such a window moves nothing and the next run asks again. Reset
   * when a page lists a tweet or a window completes otherwise, and by `watchlist enable`.
   */
  emptyGiveUps: number;
  runId: string | null;
  updatedAt: Date;
}

export interface CheckpointRow {
  provider: ProviderName;
  user_id: string;
  since_id: string | null;
  window_newest_id: string | null;
  cursor: string | null;
  window_started_at: Date | string | null;
  window_pages: number;
  backfill_done: boolean;
  backfill_fetched: number;
  window_author_tweets: number | null;
  window_oldest_id: string | null;
  window_empty_pages: number;
  window_until_id: string | null;
  empty_giveups: number;
  run_id: string | null;
  updated_at: Date | string;
}

export const CHECKPOINT_COLUMNS = sql.raw(
  `provider, user_id::text AS user_id, since_id::text AS since_id,
   window_newest_id::text AS window_newest_id, cursor, window_started_at, window_pages,
   backfill_done, backfill_fetched, window_author_tweets, window_oldest_id::text AS window_oldest_id,
   window_empty_pages, window_until_id::text AS window_until_id, empty_giveups,
   run_id::text AS run_id, updated_at`,
);

/**
 * A window's counters (and its until_id bound) back to nothing read (a window opened, completed
 * or restarted from the top). Not the bad-body streak: a window restarted from the top (an
 * expired agntdata cursor) comes back to the same bad page, and the streak must go on counting
 * it (see countInvalidPage).
 */
export const CLEAR_WINDOW_COUNTERS = sql.raw(
  `window_pages = 0, backfill_fetched = 0, window_author_tweets = NULL, window_oldest_id = NULL,
   window_empty_pages = 0, window_until_id = NULL`,
);

/** A completed window: whatever bad page it met was got past. */
export const CLEAR_INVALID_STREAK = sql.raw('invalid_streak = 0, invalid_at_page = NULL');

/**
 * The streak after a page at window position `position` (pages read before it) was written:
 * cleared when that page is at or past the position of the bad bodies (the bad page came back
 * fine, or was skipped by a window that moved on), kept when the page is above it (a window
 * restarted from the top re-reading its way down to the bad page).
 */
export function invalidStreakAfterPage(position: number): SQL {
  return sql`invalid_streak = CASE WHEN invalid_at_page IS NULL OR ${position}::int >= invalid_at_page
      THEN 0 ELSE invalid_streak END`;
}

export function toCheckpoint(row: CheckpointRow): CrawlCheckpoint {
  return {
    provider: row.provider,
    userId: row.user_id,
    sinceId: row.since_id,
    windowNewestId: row.window_newest_id,
    cursor: row.cursor,
    windowStartedAt: toDateOrNull(row.window_started_at),
    windowPages: row.window_pages,
    backfillDone: row.backfill_done,
    windowFetched: row.backfill_fetched,
    windowAuthorTweets: row.window_author_tweets,
    windowOldestId: row.window_oldest_id,
    windowEmptyPages: row.window_empty_pages,
    windowUntilId: row.window_until_id,
    emptyGiveUps: row.empty_giveups,
    runId: row.run_id,
    updatedAt: toDate(row.updated_at),
  };
}

export function keyCondition(key: TargetKey): SQL {
  return sql`provider = ${key.provider} AND user_id = ${key.userId}::bigint`;
}

/**
 * The state a step read and based its page request on. Every transition below only applies
 * when the row still holds it (compare-and-set), so two executions of the same step (a job
 * re-run after a stall, two processes) cannot both advance the checkpoint or double a counter.
 */
export type CheckpointVersion = Pick<
  CrawlCheckpoint,
  'sinceId' | 'windowNewestId' | 'cursor' | 'windowPages' | 'windowStartedAt' | 'windowUntilId'
>;

export function versionCondition(version: CheckpointVersion): SQL {
  const startedAt =
    version.windowStartedAt === null
      ? sql`window_started_at IS NULL`
      : sql`window_started_at = ${version.windowStartedAt.toISOString()}::timestamptz`;
  return sql`since_id IS NOT DISTINCT FROM ${version.sinceId}::bigint
    AND window_newest_id IS NOT DISTINCT FROM ${version.windowNewestId}::bigint
    AND cursor IS NOT DISTINCT FROM ${version.cursor}::text
    AND window_pages = ${version.windowPages}
    AND window_until_id IS NOT DISTINCT FROM ${version.windowUntilId}::bigint
    AND ${startedAt}`;
}

async function updateReturning(
  db: BirdfeedExecutor,
  statement: SQL,
): Promise<CrawlCheckpoint | null> {
  const rows = rowsOf<CheckpointRow>(await db.execute(statement));
  return rows[0] === undefined ? null : toCheckpoint(rows[0]);
}

export async function getCheckpoint(
  db: BirdfeedExecutor,
  key: TargetKey,
): Promise<CrawlCheckpoint | null> {
  return updateReturning(
    db,
    sql`SELECT ${CHECKPOINT_COLUMNS} FROM crawl_checkpoints WHERE ${keyCondition(key)}`,
  );
}

/** The checkpoint of a target, created empty (never read) when it has none yet. */
export async function ensureCheckpoint(
  db: BirdfeedExecutor,
  key: TargetKey,
): Promise<CrawlCheckpoint> {
  const existing = await getCheckpoint(db, key);
  if (existing !== null) return existing;
  await db.execute(sql`INSERT INTO crawl_checkpoints (provider, user_id)
    VALUES (${key.provider}, ${key.userId}::bigint) ON CONFLICT DO NOTHING`);
  const checkpoint = await getCheckpoint(db, key);
  if (checkpoint === null) throw new Error(`checkpoint of ${key.provider}:${key.userId} vanished`);
  return checkpoint;
}

/** Hands an open window to another run (a run that died is replaced; the cursor stays). */
export async function attachRun(
  db: BirdfeedExecutor,
  key: TargetKey,
  runId: string,
): Promise<void> {
  await db.execute(sql`UPDATE crawl_checkpoints SET run_id = ${runId}::bigint, updated_at = now()
    WHERE ${keyCondition(key)}`);
}

/**
 * The cursor expired on agntdata, or on X before the window listed anything (or the account
 * became unreadable): restart the window from `since_id`. `since_id` is untouched, so nothing
 * already promised is lost; the pages re-read are upserts.
 */
export async function resetWindow(
  db: BirdfeedExecutor,
  key: TargetKey,
  version: CheckpointVersion | null,
  options: { startedAt: Date | null },
): Promise<CrawlCheckpoint | null> {
  const startedAt =
    options.startedAt === null ? sql`NULL` : sql`${options.startedAt.toISOString()}::timestamptz`;
  return updateReturning(
    db,
    sql`UPDATE crawl_checkpoints SET
      window_newest_id = NULL, cursor = NULL, ${CLEAR_WINDOW_COUNTERS},
      window_started_at = ${startedAt}, updated_at = now()
    WHERE ${keyCondition(key)} ${version === null ? sql`` : sql`AND ${versionCondition(version)}`}
    RETURNING ${CHECKPOINT_COLUMNS}`,
  );
}

/**
 * X's pagination token expired in a window that has listed tweets: the window goes on strictly
 * below the oldest of them (`until_id` = `untilId`, which is the window's `window_oldest_id`),
 * with no cursor, instead of from its top. A window is read newest first without holes, so
 * everything between that id and `window_newest_id` is stored already: asking for it again
 * would spend the credential's rate limit on pages the window has (a soak saw 54 requests for
 * a 40-page backfill). The window keeps what it read: its newest id (since_id still moves to it
 * only when the window completes), its page and tweet counts (a backfill's depth, X's
 * 3,200-tweet cap and the window's page cap keep counting from where they were), its start and
 * run, and the bad-body streak, whose position is the page count. Only the empty-pages streak
 * starts over: the empty pages after the oldest tweet listed are asked for again.
 *
 * Compare-and-set like every transition: null when the checkpoint no longer holds `version`.
 */
export async function resumeWindowBelow(
  db: BirdfeedExecutor,
  key: TargetKey,
  version: CheckpointVersion,
  untilId: string,
): Promise<CrawlCheckpoint | null> {
  return updateReturning(
    db,
    sql`UPDATE crawl_checkpoints SET
      cursor = NULL, window_until_id = ${untilId}::bigint, window_empty_pages = 0, updated_at = now()
    WHERE ${keyCondition(key)} AND ${versionCondition(version)}
    RETURNING ${CHECKPOINT_COLUMNS}`,
  );
}

/**
 * One more bad body (invalid, or billed and broken off) at the position `version` describes;
 * returns how many in a row there now are at that position, or null when the checkpoint has
 * moved meanwhile (the streak is not this one's).
 *
 * "In a row at that position": across window restarts and runs, since no page at or past that
 * position was written and no window completed (see invalidStreakAfterPage). A bad body at
 * another position starts a new streak: one bad page is counted, not a flaky hour spread over
 * a window. A bad page that moves down the timeline between runs (new posts pushed it onto the
 * next page) starts over too: slower to be marked, never a healthy target marked.
 */
export async function countInvalidPage(
  db: BirdfeedExecutor,
  key: TargetKey,
  version: CheckpointVersion,
): Promise<number | null> {
  const position = version.windowPages;
  const rows = rowsOf<{ invalid_streak: number }>(
    await db.execute(sql`UPDATE crawl_checkpoints SET
        invalid_streak = CASE WHEN invalid_at_page = ${position}::int THEN invalid_streak + 1 ELSE 1 END,
        invalid_at_page = ${position}::int
      WHERE ${keyCondition(key)} AND ${versionCondition(version)}
      RETURNING invalid_streak`),
  );
  return rows[0]?.invalid_streak ?? null;
}
