import { type SQL, sql } from 'drizzle-orm';
import { type BirdfeedDb, rowsOf } from '../database.ts';

/**
 * Deleting what birdfeed otherwise keeps forever: fetched bodies, run rows and failures older
 * than a cut-off. Nothing the crawl still uses is touched: a run a checkpoint points at, the
 * newest run of each target (status shows it), a failed body a kept failure names, the failed
 * bodies of a target marked 'failing'.
 */
export interface PruneOptions {
  /** Bodies of pages that were written (`error IS NULL`) fetched before this. */
  rawPagesBefore?: Date | undefined;
  /** Finished runs (any outcome but 'running') that finished before this. */
  runsBefore?: Date | undefined;
  /**
   * Failures recorded before this, and the invalid bodies only they name — except those of a
   * target marked 'failing', kept until it is re-enabled.
   */
  failuresBefore?: Date | undefined;
  /** Count, delete nothing. */
  dryRun?: boolean;
  /** Rows per statement: each batch commits on its own, so no long lock or huge transaction. */
  batchSize?: number;
}

export interface PruneCount {
  rows: number;
  /** Stored size of the bodies (raw_pages only). */
  bytes?: number;
}

export interface PruneResult {
  rawPages?: PruneCount;
  runs?: PruneCount;
  failures?: PruneCount;
  /** Invalid bodies whose last failure went. */
  failedBodies?: PruneCount;
}

const DEFAULT_BATCH = 1_000;

interface Part {
  table: SQL;
  /** raw_pages: the stored size of the bodies is reported too. */
  bodies: boolean;
  /** The rows this part may delete, as a WHERE clause over `t`. */
  deletable(cutoff: SQL): SQL;
}

const PARTS = {
  rawPages: {
    table: sql.raw('raw_pages'),
    bodies: true,
    deletable: (cutoff) => sql`t.error IS NULL AND t.fetched_at < ${cutoff}`,
  },
  runs: {
    table: sql.raw('crawl_runs'),
    bodies: false,
    // Both lookups are index probes (the checkpoint's key; the runs' (provider, user_id,
    // started_at) index read backwards): a target holds ~35,000 runs a year at 15 minutes.
    deletable: (cutoff) => sql`t.outcome <> 'running' AND t.finished_at < ${cutoff}
      AND NOT EXISTS (SELECT 1 FROM crawl_checkpoints c
        WHERE c.provider = t.provider AND c.user_id = t.user_id AND c.run_id = t.id)
      AND t.started_at < (SELECT max(newest.started_at) FROM crawl_runs newest
        WHERE newest.provider = t.provider AND newest.user_id = t.user_id)`,
  },
  failures: {
    table: sql.raw('crawl_failures'),
    bodies: false,
    deletable: (cutoff) => sql`t.failed_at < ${cutoff}`,
  },
  failedBodies: {
    table: sql.raw('raw_pages'),
    bodies: true,
    // The failures a prune keeps are those from the cut-off on, so a dry run counts the
    // same bodies. Hashed once per statement: crawl_failures has no index on raw_page_id.
    // A target marked 'failing' keeps every invalid body however old: its state_reason names
    // one (`raw_pages N`), the only copy of a page none of whose rows were written, for the
    // normalizer fix the operator is told to make before `watchlist enable` (a target can
    // stay failing for months; a probe of the target's primary key).
    deletable: (cutoff) => sql`t.error IS NOT NULL AND t.fetched_at < ${cutoff}
      AND t.id NOT IN (SELECT raw_page_id FROM crawl_failures
        WHERE raw_page_id IS NOT NULL AND failed_at >= ${cutoff})
      AND NOT EXISTS (SELECT 1 FROM watch_targets w
        WHERE w.provider = t.provider AND w.user_id = t.user_id AND w.state = 'failing')`,
  },
} satisfies Record<string, Part>;

type PartName = keyof typeof PARTS;

const cutoffOf = (before: Date) => sql`${before.toISOString()}::timestamptz`;

async function countPart(db: BirdfeedDb, name: PartName, before: Date): Promise<PruneCount> {
  const part: Part = PARTS[name];
  const size = part.bodies ? sql`coalesce(sum(pg_column_size(t.body)), 0)::bigint::text` : sql`'0'`;
  const [row] = rowsOf<{ rows: number; bytes: string }>(
    await db.execute(sql`SELECT count(*)::int AS rows, ${size} AS bytes
      FROM ${part.table} t WHERE ${part.deletable(cutoffOf(before))}`),
  );
  const rows = row?.rows ?? 0;
  return part.bodies ? { rows, bytes: Number(row?.bytes ?? 0) } : { rows };
}

/**
 * Deletes in id order, a batch a statement: the candidates are read along the primary key
 * from where the last batch stopped, so the whole table is walked once however many batches.
 */
async function deletePart(
  db: BirdfeedDb,
  name: PartName,
  before: Date,
  batchSize: number,
): Promise<PruneCount> {
  const part: Part = PARTS[name];
  const size = part.bodies ? sql`pg_column_size(d.body)` : sql`0`;
  let after = '0';
  const total: PruneCount = part.bodies ? { rows: 0, bytes: 0 } : { rows: 0 };
  for (;;) {
    const [row] = rowsOf<{ rows: number; bytes: string; candidates: number; last: string | null }>(
      await db.execute(sql`WITH batch AS (
          SELECT t.id FROM ${part.table} t
          WHERE t.id > ${after}::bigint AND ${part.deletable(cutoffOf(before))}
          ORDER BY t.id LIMIT ${batchSize}
        ), gone AS (
          DELETE FROM ${part.table} d USING batch b WHERE d.id = b.id
          RETURNING d.id, ${size} AS bytes
        )
        SELECT (SELECT count(*)::int FROM gone) AS rows,
          (SELECT coalesce(sum(bytes), 0)::bigint::text FROM gone) AS bytes,
          (SELECT count(*)::int FROM batch) AS candidates,
          (SELECT max(id)::text FROM batch) AS last`),
    );
    total.rows += row?.rows ?? 0;
    if (total.bytes !== undefined) total.bytes += Number(row?.bytes ?? 0);
    if ((row?.candidates ?? 0) < batchSize || row?.last == null) return total;
    after = row.last;
  }
}

export async function pruneHistory(db: BirdfeedDb, options: PruneOptions): Promise<PruneResult> {
  const batchSize = options.batchSize ?? DEFAULT_BATCH;
  const apply = (part: PartName, before: Date) =>
    options.dryRun === true ? countPart(db, part, before) : deletePart(db, part, before, batchSize);
  const result: PruneResult = {};
  if (options.rawPagesBefore !== undefined) {
    result.rawPages = await apply('rawPages', options.rawPagesBefore);
  }
  if (options.runsBefore !== undefined) {
    result.runs = await apply('runs', options.runsBefore);
  }
  if (options.failuresBefore !== undefined) {
    result.failures = await apply('failures', options.failuresBefore);
    result.failedBodies = await apply('failedBodies', options.failuresBefore);
  }
  return result;
}
