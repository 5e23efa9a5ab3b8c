import { sql } from 'drizzle-orm';
import { type BirdfeedExecutor, executePrepared } from '../database.ts';
import { type CrawlRun, RUN_COLUMNS, type RunRow, toRun } from './runs.ts';
import type { TargetKey } from './types.ts';

/** A running run that showed activity too recently to be taken over. */
export interface RunInUse {
  runId: string;
  /** The latest of: the run's start, its checkpoint's last write, its last recorded failure. */
  lastActivityAt: Date;
  /** How long ago that was, on the database's clock. */
  idleMs: number;
}

export type OpenRunResult = { run: CrawlRun; inUse: null } | { run: null; inUse: RunInUse };

export interface OpenRunOptions {
  /**
   * Leave a `running` run alone when it showed activity (started, wrote a page, recorded a
   * failure) within this many milliseconds: someone (a worker, another one-shot) is most likely
   * crawling it right now, and taking it over would fetch every page twice. Older than that it
   * is an orphan (a crashed process) and is adopted.
   */
  busyWithinMs: number;
}

/**
 * A target backfills until its first window completes (crawl-page.ts decides the same way): a
 * first window that found nothing leaves since_id NULL, and the runs after it are incremental.
 */
const RUN_KIND = sql.raw(
  `CASE WHEN (SELECT since_id FROM existing) IS NULL
     AND NOT coalesce((SELECT backfill_done FROM existing), false)
   THEN 'backfill' ELSE 'incremental' END`,
);

/**
 * The target's run still in progress (the one its checkpoint names, when it is `running`), or a
 * new one attached to the checkpoint: a backfill when the checkpoint has no since_id yet, an
 * incremental run otherwise. The checkpoint row is created when the target has none.
 *
 * Without options any running run is adopted: the scheduler and the workers hand a run's jobs
 * to one another through the queue, so the run they find is theirs. With `busyWithinMs` (the
 * one-shot mode, which has no queue to tell it who else is at work) a recently active run is
 * reported as in use instead, and nothing is written.
 *
 * One statement (data-modifying CTEs), as a named prepared statement: the scheduler opens a run
 * per due target on every tick, and reading the checkpoint, reading its run, inserting the run
 * and attaching it were 3–5 round trips per target.
 */
export async function openOrAdoptRun(db: BirdfeedExecutor, key: TargetKey): Promise<CrawlRun>;
export async function openOrAdoptRun(
  db: BirdfeedExecutor,
  key: TargetKey,
  options: OpenRunOptions,
): Promise<OpenRunResult>;
export async function openOrAdoptRun(
  db: BirdfeedExecutor,
  key: TargetKey,
  options?: OpenRunOptions,
): Promise<CrawlRun | OpenRunResult> {
  if (options !== undefined) return openUnlessBusy(db, key, options.busyWithinMs);
  const [row] = await executePrepared<RunRow>(
    db,
    sql`WITH existing AS (
        SELECT since_id, backfill_done, run_id FROM crawl_checkpoints
        WHERE provider = ${key.provider}::text AND user_id = ${key.userId}::bigint
      ), adopted AS (
        SELECT ${RUN_COLUMNS} FROM crawl_runs
        WHERE id = (SELECT run_id FROM existing) AND outcome = 'running'
      ), started AS (
        INSERT INTO crawl_runs (provider, user_id, kind)
        SELECT ${key.provider}::text, ${key.userId}::bigint,
          ${RUN_KIND}
        WHERE NOT EXISTS (SELECT 1 FROM adopted)
        RETURNING ${RUN_COLUMNS}
      ), attached AS (
        INSERT INTO crawl_checkpoints (provider, user_id, run_id)
        SELECT ${key.provider}::text, ${key.userId}::bigint, id::bigint FROM started
        ON CONFLICT (provider, user_id) DO UPDATE SET run_id = excluded.run_id, updated_at = now()
        RETURNING 1
      )
      SELECT * FROM adopted UNION ALL SELECT * FROM started`,
  );
  if (row === undefined)
    throw new Error(`no run could be opened for ${key.provider}:${key.userId}`);
  return toRun(row);
}

type GuardedRow = RunRow & { in_use: boolean; last_activity_at: Date | string; idle_ms: number };

/**
 * The same statement with the activity check. A separate text (so a separate prepared
 * statement), so the workers' and scheduler's statement stays exactly what it was. One
 * statement is not enough on its own under READ COMMITTED (two overlapping ones each see no
 * running run): it runs under a per-target advisory lock. There is no timestamp of a page
 * request in flight; the window has to cover it.
 */
async function openUnlessBusy(
  db: BirdfeedExecutor,
  key: TargetKey,
  busyWithinMs: number,
): Promise<OpenRunResult> {
  // Two one-shots at once (cron's and an operator's) each saw no running run and each opened
  // one, or both took over the same orphan: the check and the take-over are serialized per
  // target, and a take-over touches the checkpoint, so the next caller finds the run active.
  return db.transaction(async (tx) => {
    await tx.execute(
      sql`SELECT pg_advisory_xact_lock(hashtextextended(${`birdfeed.open_run:${key.provider}:${key.userId}`}, 0))`,
    );
    return openUnlessBusyLocked(tx, key, busyWithinMs);
  });
}

async function openUnlessBusyLocked(
  db: BirdfeedExecutor,
  key: TargetKey,
  busyWithinMs: number,
): Promise<OpenRunResult> {
  const [row] = await executePrepared<GuardedRow>(
    db,
    sql`WITH existing AS (
        SELECT since_id, backfill_done, run_id, updated_at FROM crawl_checkpoints
        WHERE provider = ${key.provider}::text AND user_id = ${key.userId}::bigint
      ), running AS (
        SELECT r.id, greatest(r.started_at, e.updated_at, (
            SELECT max(f.failed_at) FROM crawl_failures f
            WHERE f.provider = ${key.provider}::text AND f.user_id = ${key.userId}::bigint
              AND f.run_id = r.id
          )) AS last_activity_at
        FROM crawl_runs r JOIN existing e ON r.id = e.run_id
        WHERE r.outcome = 'running'
      ), in_use AS (
        SELECT id, last_activity_at FROM running
        WHERE last_activity_at > now() - ${busyWithinMs}::bigint * interval '1 millisecond'
      ), adopted AS (
        SELECT ${RUN_COLUMNS}, false AS in_use, running.last_activity_at
        FROM crawl_runs JOIN running USING (id)
        WHERE NOT EXISTS (SELECT 1 FROM in_use)
      ), touched AS (
        UPDATE crawl_checkpoints SET updated_at = now()
        WHERE provider = ${key.provider}::text AND user_id = ${key.userId}::bigint
          AND EXISTS (SELECT 1 FROM adopted)
        RETURNING 1
      ), busy AS (
        SELECT ${RUN_COLUMNS}, true AS in_use, in_use.last_activity_at
        FROM crawl_runs JOIN in_use USING (id)
      ), started AS (
        INSERT INTO crawl_runs (provider, user_id, kind)
        SELECT ${key.provider}::text, ${key.userId}::bigint,
          ${RUN_KIND}
        WHERE NOT EXISTS (SELECT 1 FROM running)
        RETURNING ${RUN_COLUMNS}, false AS in_use, started_at AS last_activity_at
      ), attached AS (
        INSERT INTO crawl_checkpoints (provider, user_id, run_id)
        SELECT ${key.provider}::text, ${key.userId}::bigint, id::bigint FROM started
        ON CONFLICT (provider, user_id) DO UPDATE SET run_id = excluded.run_id, updated_at = now()
        RETURNING 1
      )
      SELECT *, (extract(epoch FROM now() - last_activity_at) * 1000)::float8 AS idle_ms
      FROM (SELECT * FROM adopted UNION ALL SELECT * FROM busy UNION ALL SELECT * FROM started) AS opened`,
  );
  if (row === undefined)
    throw new Error(`no run could be opened for ${key.provider}:${key.userId}`);
  if (row.in_use) {
    const lastActivityAt =
      row.last_activity_at instanceof Date ? row.last_activity_at : new Date(row.last_activity_at);
    return {
      run: null,
      inUse: { runId: row.id, lastActivityAt, idleMs: Math.max(0, Number(row.idle_ms)) },
    };
  }
  return { run: toRun(row), inUse: null };
}
