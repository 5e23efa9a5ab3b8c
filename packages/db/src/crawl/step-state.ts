import { sql } from 'drizzle-orm';
import { type BirdfeedExecutor, executePrepared } from '../database.ts';
import { type CheckpointRow, type CrawlCheckpoint, toCheckpoint } from './checkpoints.ts';
import { type CrawlRun, type RunRow, toRun } from './runs.ts';
import { type TargetRow, targetColumns, toTarget, type WatchTarget } from './targets.ts';
import type { TargetKey } from './types.ts';

/** What the crawl step needs before its request: the target, its checkpoint, its run. */
export interface CrawlStepState {
  /** Null: no such target. */
  target: WatchTarget | null;
  /** Null: the target has no checkpoint row yet (never opened a run). */
  checkpoint: CrawlCheckpoint | null;
  /** Null: no run id was given, or no such run. */
  run: CrawlRun | null;
}

// Prefixed so the three tables' columns cannot collide in one row (provider, user_id, id…).
const STATE_COLUMNS = sql.join(
  [
    targetColumns('t'),
    sql.raw(`c.provider AS c_provider, c.user_id::text AS c_user_id,
     c.since_id::text AS c_since_id, c.window_newest_id::text AS c_window_newest_id,
     c.cursor AS c_cursor, c.window_started_at AS c_window_started_at,
     c.window_pages AS c_window_pages, c.backfill_done AS c_backfill_done,
     c.backfill_fetched AS c_backfill_fetched,
     c.window_author_tweets AS c_window_author_tweets,
     c.window_oldest_id::text AS c_window_oldest_id, c.window_empty_pages AS c_window_empty_pages,
     c.window_until_id::text AS c_window_until_id, c.empty_giveups AS c_empty_giveups,
     c.run_id::text AS c_run_id,
     c.updated_at AS c_updated_at,
     r.id::text AS r_id, r.provider AS r_provider, r.user_id::text AS r_user_id, r.kind AS r_kind,
     r.started_at AS r_started_at, r.finished_at AS r_finished_at, r.pages AS r_pages,
     r.requests AS r_requests, r.tweets_new AS r_tweets_new,
     r.tweets_updated AS r_tweets_updated, r.cost_cents AS r_cost_cents,
     r.outcome AS r_outcome, r.error AS r_error`),
  ],
  sql.raw(', '),
);

function unprefixed<T>(row: Record<string, unknown>, prefix: string): T {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(row)) {
    if (name.startsWith(prefix)) out[name.slice(prefix.length)] = value;
  }
  return out as T;
}

/**
 * The target, its checkpoint and the run in ONE read (three primary-key lookups), as a named
 * prepared statement: the crawl step runs it before every page, and three separate reads cost
 * three round trips, each ~1–2 ms on a loaded machine.
 */
export async function readCrawlStepState(
  db: BirdfeedExecutor,
  key: TargetKey,
  runId: string | null,
): Promise<CrawlStepState> {
  const [row] = await executePrepared<Record<string, unknown>>(
    db,
    sql`SELECT ${STATE_COLUMNS}
      FROM watch_targets t
      LEFT JOIN crawl_checkpoints c ON c.provider = t.provider AND c.user_id = t.user_id
      LEFT JOIN crawl_runs r ON r.id = ${runId}::bigint
      WHERE t.provider = ${key.provider}::text AND t.user_id = ${key.userId}::bigint`,
  );
  if (row === undefined) return { target: null, checkpoint: null, run: null };
  return {
    target: toTarget(row as unknown as TargetRow),
    checkpoint: row.c_provider == null ? null : toCheckpoint(unprefixed<CheckpointRow>(row, 'c_')),
    run: row.r_id == null ? null : toRun(unprefixed<RunRow>(row, 'r_')),
  };
}
