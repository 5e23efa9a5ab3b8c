import { type SQL, sql } from 'drizzle-orm';
import { type BirdfeedExecutor, executePrepared } from '../database.ts';
import {
  CHECKPOINT_COLUMNS,
  type CheckpointRow,
  type CheckpointVersion,
  CLEAR_INVALID_STREAK,
  CLEAR_WINDOW_COUNTERS,
  type CrawlCheckpoint,
  invalidStreakAfterPage,
  keyCondition,
  toCheckpoint,
  versionCondition,
} from './checkpoints.ts';
import type { GapReason } from './gaps.ts';
import type { TargetKey } from './types.ts';

/** Where the window stands once the page is written. */
export type WindowMove =
  /** Step 2: the window goes on from `cursor`. */
  | {
      kind: 'progress';
      cursor: string;
      windowNewestId: string | null;
      fetched: number;
      /** The account's tweet_count on this page (X), kept from the window's first page on. */
      authorTweets: number | null;
      /** The smallest timeline id on this page (null: none): the window keeps the smallest. */
      oldestId: string | null;
      /** Empty pages with a next token in a row, this one included (0: this one was not). */
      emptyPages: number;
    }
  /**
   * Step 3: the whole window was read; since_id moves, the window is cleared, the run ends.
   * `gaveUpEmpty`: the window was given up on empty pages before it listed a tweet, which adds
   * one to the checkpoint's `empty_giveups`; any other end clears it.
   */
  | { kind: 'complete'; sinceId: string | null; backfillDone: boolean; gaveUpEmpty?: boolean };

export interface PageTransition extends TargetKey {
  /** The checkpoint as the step read it: nothing happens unless the row still holds it. */
  version: CheckpointVersion;
  runId: string;
  /**
   * Set when `version` has no open window: this page is the window's first, and the window is
   * opened (started at this instant, owned by `runId`) by the same statement.
   */
  opensWindowAt: Date | null;
  move: WindowMove;
  /** Added to the run's counters. */
  progress: {
    pages: number;
    requests: number;
    tweetsNew: number;
    tweetsUpdated: number;
    costCents: number;
  };
  /** Added to provider_spend for (provider, day). */
  spend: { day: string; cents: number; requests: number };
  gap: { sinceId: string | null; oldestId: string | null; reason: GapReason } | null;
}

const ifMoved = sql.raw('WHERE EXISTS (SELECT 1 FROM cp)');

function checkpointSet(input: PageTransition): SQL {
  const move = input.move;
  if (move.kind === 'complete') {
    const backfill = move.backfillDone ? sql`true` : sql`backfill_done`;
    return sql`since_id = ${move.sinceId}::bigint, window_newest_id = NULL, cursor = NULL,
      window_started_at = NULL, ${CLEAR_WINDOW_COUNTERS}, ${CLEAR_INVALID_STREAK}, backfill_done = ${backfill},
      empty_giveups = CASE WHEN ${move.gaveUpEmpty === true}::boolean THEN empty_giveups + 1 ELSE 0 END,
      run_id = NULL, updated_at = now()`;
  }
  if (input.opensWindowAt !== null) {
    // The window opens with this page: its counters start from it.
    return sql`window_started_at = ${input.opensWindowAt.toISOString()}::timestamptz,
      cursor = ${move.cursor}::text, window_newest_id = ${move.windowNewestId}::bigint,
      window_pages = 1, backfill_fetched = ${move.fetched}::int,
      window_author_tweets = ${move.authorTweets}::int, window_oldest_id = ${move.oldestId}::bigint,
      window_empty_pages = ${move.emptyPages}::int, window_until_id = NULL, ${invalidStreakAfterPage(0)},
      ${emptyGiveUpsAfterPage(move.fetched)}, run_id = ${input.runId}::bigint, updated_at = now()`;
  }
  return sql`cursor = ${move.cursor}::text, window_newest_id = ${move.windowNewestId}::bigint,
    window_pages = window_pages + 1, backfill_fetched = backfill_fetched + ${move.fetched}::int,
    window_author_tweets = coalesce(window_author_tweets, ${move.authorTweets}::int),
    window_oldest_id = least(window_oldest_id, ${move.oldestId}::bigint),
    window_empty_pages = ${move.emptyPages}::int,
    ${invalidStreakAfterPage(input.version.windowPages)}, ${emptyGiveUpsAfterPage(move.fetched)},
    updated_at = now()`;
}

/** A page that lists a tweet ends the run of windows given up on empty pages. */
function emptyGiveUpsAfterPage(fetched: number): SQL {
  return sql`empty_giveups = CASE WHEN ${fetched}::int > 0 THEN 0 ELSE empty_giveups END`;
}

/**
 * Everything the crawl step writes besides the page itself, as ONE statement for the page's
 * transaction: the checkpoint compare-and-set (steps 1–3 of DESIGN.md, "The checkpoint"), the
 * run's counters (and its end when the window completes), the day's provider spend, the gap
 * found, the target's last run. Each is a data-modifying CTE; all but the checkpoint's apply
 * only when the compare-and-set matched (`EXISTS (SELECT 1 FROM cp)`).
 *
 * Returns the checkpoint after the move, or null when the row no longer held `version`
 * (another execution moved it): nothing was written then, and the caller rolls back its page.
 *
 * As separate statements these were 3–5 round trips per page, each ~1–2 ms under load, with
 * the day's provider_spend row (shared by every writer) locked from the first of them until
 * the commit. Run as a named prepared statement: planned once per connection per shape.
 */
export async function commitPageTransition(
  db: BirdfeedExecutor,
  input: PageTransition,
): Promise<CrawlCheckpoint | null> {
  const key: TargetKey = { provider: input.provider, userId: input.userId };
  const completes = input.move.kind === 'complete';
  const ctes: SQL[] = [
    sql`cp AS (UPDATE crawl_checkpoints SET ${checkpointSet(input)}
      WHERE ${keyCondition(key)} AND ${versionCondition(input.version)}
      RETURNING ${CHECKPOINT_COLUMNS})`,
    // A run that already ended keeps its first outcome (see finishRun); counters still add up.
    sql`run AS (UPDATE crawl_runs SET
      pages = pages + ${input.progress.pages}::int,
      requests = requests + ${input.progress.requests}::int,
      tweets_new = tweets_new + ${input.progress.tweetsNew}::int,
      tweets_updated = tweets_updated + ${input.progress.tweetsUpdated}::int,
      cost_cents = cost_cents + ${input.progress.costCents}::int
      ${
        completes
          ? sql.raw(`, outcome = CASE WHEN outcome = 'running' THEN 'succeeded' ELSE outcome END,
      error = CASE WHEN outcome = 'running' THEN NULL ELSE error END,
      finished_at = CASE WHEN outcome = 'running' THEN now() ELSE finished_at END`)
          : sql``
      }
      WHERE id = ${input.runId}::bigint AND EXISTS (SELECT 1 FROM cp) RETURNING 1)`,
    sql`spend AS (INSERT INTO provider_spend (provider, day, requests, cost_cents)
      SELECT ${input.provider}::text, ${input.spend.day}::date,
        ${input.spend.requests}::int, ${input.spend.cents}::int ${ifMoved}
      ON CONFLICT (provider, day) DO UPDATE SET
        requests = provider_spend.requests + excluded.requests,
        cost_cents = provider_spend.cost_cents + excluded.cost_cents
      RETURNING 1)`,
  ];
  if (input.gap !== null) {
    ctes.push(sql`gap AS (INSERT INTO crawl_gaps (provider, user_id, since_id, oldest_id, reason)
      SELECT ${input.provider}::text, ${input.userId}::bigint, ${input.gap.sinceId}::bigint,
        ${input.gap.oldestId}::bigint, ${input.gap.reason}::text ${ifMoved}
      RETURNING 1)`);
  }
  if (completes) {
    // The handle as crawled (the page's users were written before this transaction): a
    // `--username` given at `watchlist add` is a guess until then, and accounts get renamed.
    ctes.push(sql`target AS (UPDATE watch_targets SET last_run_at = now(), updated_at = now(),
        username = coalesce((SELECT u.username FROM users u WHERE u.id = ${input.userId}::bigint),
          watch_targets.username)
      WHERE ${keyCondition(key)} AND EXISTS (SELECT 1 FROM cp) RETURNING 1)`);
  }
  const [row] = await executePrepared<CheckpointRow>(
    db,
    sql`WITH ${sql.join(ctes, sql.raw(', '))} SELECT * FROM cp`,
  );
  return row === undefined ? null : toCheckpoint(row);
}
