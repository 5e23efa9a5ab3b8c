import { sql } from 'drizzle-orm';
import { type BirdfeedExecutor, executePrepared } from '../database.ts';
import { type CrawlRun, RUN_COLUMNS, type RunRow, toRun } from './runs.ts';
import type { TargetKey } from './types.ts';

/**
 * The target's run still in progress (the one its checkpoint names, when it is `running`), or a
 * new one attached to the checkpoint: a backfill when the checkpoint has no since_id yet, an
 * incremental run otherwise. The checkpoint row is created when the target has none.
 *
 * One statement (data-modifying CTEs), as a named prepared statement: the scheduler opens a run
 * per due target on every tick, and reading the checkpoint, reading its run, inserting the run
 * and attaching it were 3–5 round trips per target.
 */
export async function openOrAdoptRun(db: BirdfeedExecutor, key: TargetKey): Promise<CrawlRun> {
  const [row] = await executePrepared<RunRow>(
    db,
    sql`WITH existing AS (
        SELECT since_id, run_id FROM crawl_checkpoints
        WHERE provider = ${key.provider}::text AND user_id = ${key.userId}::bigint
      ), adopted AS (
        SELECT ${RUN_COLUMNS} FROM crawl_runs
        WHERE id = (SELECT run_id FROM existing) AND outcome = 'running'
      ), started AS (
        INSERT INTO crawl_runs (provider, user_id, kind)
        SELECT ${key.provider}::text, ${key.userId}::bigint,
          CASE WHEN (SELECT since_id FROM existing) IS NULL THEN 'backfill' ELSE 'incremental' END
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
