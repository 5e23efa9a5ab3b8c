import { type SQL, sql } from 'drizzle-orm';
import { type BirdfeedDb, rowsOf } from '../database.ts';

/**
 * Deleting what birdfeed otherwise keeps forever: fetched bodies, run rows, failures and the
 * metrics history older than a cut-off. Nothing the crawl still uses is touched: a run a checkpoint points at, the
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
  /**
   * tweet_metrics and user_metrics rows observed before this, except each tweet's and user's
   * last row before it: the counts in force at the cut-off stay known, every later change too.
   */
  metricsBefore?: Date | undefined;
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
  tweetMetrics?: PruneCount;
  userMetrics?: PruneCount;
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

/** A metrics history table: its key column (with observed_at, the primary key). */
const HISTORIES = {
  tweetMetrics: { table: sql.raw('tweet_metrics'), key: sql.raw('tweet_id') },
  userMetrics: { table: sql.raw('user_metrics'), key: sql.raw('user_id') },
} as const;

type HistoryName = keyof typeof HISTORIES;

/** A row that a later row, still before the cut-off, superseded. */
function superseded(name: HistoryName, cutoff: SQL): SQL {
  const { table, key } = HISTORIES[name];
  return sql`t.observed_at < ${cutoff} AND EXISTS (SELECT 1 FROM ${table} n
    WHERE n.${key} = t.${key} AND n.observed_at > t.observed_at AND n.observed_at < ${cutoff})`;
}

async function pruneMetrics(
  db: BirdfeedDb,
  name: HistoryName,
  before: Date,
  dryRun: boolean,
  batchSize: number,
): Promise<PruneCount> {
  const { table, key } = HISTORIES[name];
  const cutoff = cutoffOf(before);
  if (dryRun) {
    const [row] = rowsOf<{ rows: number }>(
      await db.execute(
        sql`SELECT count(*)::int AS rows FROM ${table} t WHERE ${superseded(name, cutoff)}`,
      ),
    );
    return { rows: row?.rows ?? 0 };
  }
  // Walked along the primary key (key, observed_at) from where the last batch stopped.
  let after: { key: string; at: string } | null = null;
  const total: PruneCount = { rows: 0 };
  for (;;) {
    const from: SQL =
      after === null
        ? sql`true`
        : sql`(t.${key}, t.observed_at) > (${after.key}::bigint, ${after.at}::timestamptz)`;
    const [row] = rowsOf<{
      rows: number;
      candidates: number;
      key: string | null;
      at: string | null;
    }>(
      await db.execute(sql`WITH batch AS (
          SELECT t.${key} AS k, t.observed_at AS at FROM ${table} t
          WHERE ${from} AND ${superseded(name, cutoff)}
          ORDER BY t.${key}, t.observed_at LIMIT ${batchSize}
        ), gone AS (
          DELETE FROM ${table} d USING batch b WHERE d.${key} = b.k AND d.observed_at = b.at
          RETURNING 1
        ), last AS (SELECT k, at FROM batch ORDER BY k DESC, at DESC LIMIT 1)
        SELECT (SELECT count(*)::int FROM gone) AS rows,
          (SELECT count(*)::int FROM batch) AS candidates,
          (SELECT k::text FROM last) AS key,
          (SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') FROM last) AS at`),
    );
    total.rows += row?.rows ?? 0;
    if ((row?.candidates ?? 0) < batchSize || row?.key == null || row.at == null) return total;
    after = { key: row.key, at: row.at };
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
  if (options.metricsBefore !== undefined) {
    const dryRun = options.dryRun === true;
    result.tweetMetrics = await pruneMetrics(
      db,
      'tweetMetrics',
      options.metricsBefore,
      dryRun,
      batchSize,
    );
    result.userMetrics = await pruneMetrics(
      db,
      'userMetrics',
      options.metricsBefore,
      dryRun,
      batchSize,
    );
  }
  return result;
}
