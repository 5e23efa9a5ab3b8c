import type { ProviderName } from '@birdfeed/model';
import { sql } from 'drizzle-orm';
import { type BirdfeedExecutor, rowsOf } from '../database.ts';
import { storableText } from '../storable-text.ts';
import { toDate, toDateOrNull } from './targets.ts';
import type { CrawlKind, RunOutcome, TargetKey } from './types.ts';

export interface CrawlRun extends TargetKey {
  id: string;
  kind: CrawlKind;
  startedAt: Date;
  finishedAt: Date | null;
  pages: number;
  requests: number;
  tweetsNew: number;
  tweetsUpdated: number;
  costCents: number;
  outcome: RunOutcome;
  error: string | null;
}

export interface RunRow {
  id: string;
  provider: ProviderName;
  user_id: string;
  kind: CrawlKind;
  started_at: Date | string;
  finished_at: Date | string | null;
  pages: number;
  requests: number;
  tweets_new: number;
  tweets_updated: number;
  cost_cents: number;
  outcome: RunOutcome;
  error: string | null;
}

export const RUN_COLUMNS = sql.raw(
  `id::text AS id, provider, user_id::text AS user_id, kind, started_at, finished_at, pages,
   requests, tweets_new, tweets_updated, cost_cents, outcome, error`,
);

export function toRun(row: RunRow): CrawlRun {
  return {
    id: row.id,
    provider: row.provider,
    userId: row.user_id,
    kind: row.kind,
    startedAt: toDate(row.started_at),
    finishedAt: toDateOrNull(row.finished_at),
    pages: row.pages,
    requests: row.requests,
    tweetsNew: row.tweets_new,
    tweetsUpdated: row.tweets_updated,
    costCents: row.cost_cents,
    outcome: row.outcome,
    error: row.error,
  };
}

export async function startRun(
  db: BirdfeedExecutor,
  input: TargetKey & { kind: CrawlKind },
): Promise<CrawlRun> {
  const rows = rowsOf<RunRow>(
    await db.execute(sql`INSERT INTO crawl_runs (provider, user_id, kind)
      VALUES (${input.provider}, ${input.userId}::bigint, ${input.kind})
      RETURNING ${RUN_COLUMNS}`),
  );
  const row = rows[0];
  if (row === undefined) throw new Error('startRun returned no row');
  return toRun(row);
}

export async function getRun(db: BirdfeedExecutor, runId: string): Promise<CrawlRun | null> {
  const rows = rowsOf<RunRow>(
    await db.execute(sql`SELECT ${RUN_COLUMNS} FROM crawl_runs WHERE id = ${runId}::bigint`),
  );
  return rows[0] === undefined ? null : toRun(rows[0]);
}

export interface RunProgress {
  pages?: number | undefined;
  requests?: number | undefined;
  tweetsNew?: number | undefined;
  tweetsUpdated?: number | undefined;
  costCents?: number | undefined;
}

export async function addRunProgress(
  db: BirdfeedExecutor,
  runId: string,
  progress: RunProgress,
): Promise<void> {
  await db.execute(sql`UPDATE crawl_runs SET
    pages = pages + ${progress.pages ?? 0},
    requests = requests + ${progress.requests ?? 0},
    tweets_new = tweets_new + ${progress.tweetsNew ?? 0},
    tweets_updated = tweets_updated + ${progress.tweetsUpdated ?? 0},
    cost_cents = cost_cents + ${progress.costCents ?? 0}
    WHERE id = ${runId}::bigint`);
}

/**
 * Why the scheduler closed a run whose jobs were gone from the queue: a guess from outside
 * (see {@link closeOrphanedRun}), which a failure recorded later may correct.
 */
export const ORPHANED_RUN_ERROR = 'orphaned: no job of this run was left in the queue';

/** The scheduler's close of a running run with no job left in the queue. */
export async function closeOrphanedRun(db: BirdfeedExecutor, runId: string): Promise<boolean> {
  return finishRun(db, runId, 'cancelled', ORPHANED_RUN_ERROR);
}

/**
 * Records that a run failed when it was already closed as orphaned: the job's final failure
 * and the scheduler's tick can cross (BullMQ frees the target's deduplication key before the
 * worker has written the failure), and the failure is what really happened. Any other first
 * outcome stands. True when the run was relabelled.
 */
export async function failOrphanedRun(
  db: BirdfeedExecutor,
  runId: string,
  error: string,
): Promise<boolean> {
  const rows = rowsOf<{ id: string }>(
    await db.execute(sql`UPDATE crawl_runs SET outcome = 'failed', error = ${storableText(error)}
      WHERE id = ${runId}::bigint AND outcome = 'cancelled' AND error = ${ORPHANED_RUN_ERROR}
      RETURNING id::text AS id`),
  );
  return rows.length > 0;
}

/**
 * Closes a run. Only a running run changes: the first outcome recorded stands, so a late retry
 * of a step cannot turn a 'succeeded' run into 'failed'. True when this call closed it.
 */
export async function finishRun(
  db: BirdfeedExecutor,
  runId: string,
  outcome: Exclude<RunOutcome, 'running'>,
  error: string | null = null,
): Promise<boolean> {
  const rows = rowsOf<{ id: string }>(
    await db.execute(sql`UPDATE crawl_runs SET outcome = ${outcome}, error = ${storableText(error)},
      finished_at = now()
      WHERE id = ${runId}::bigint AND outcome = 'running'
      RETURNING id::text AS id`),
  );
  return rows.length > 0;
}

/**
 * Says, on a run that ended 'succeeded', what it gave up on (its `error` column, the run's
 * "why" as for any other outcome): a window given up on empty pages before it listed a tweet
 * succeeds (the provider answered every page) yet reads nothing, and `status` and `crawl
 * --once` would otherwise show a success. Only a succeeded run: another first outcome (a run
 * the scheduler closed as orphaned meanwhile) keeps its own reason. True when it was noted.
 */
export async function noteSucceededRun(
  db: BirdfeedExecutor,
  runId: string,
  note: string,
): Promise<boolean> {
  const rows = rowsOf<{ id: string }>(
    await db.execute(sql`UPDATE crawl_runs SET error = ${storableText(note)}
      WHERE id = ${runId}::bigint AND outcome = 'succeeded'
      RETURNING id::text AS id`),
  );
  return rows.length > 0;
}

export async function listRuns(
  db: BirdfeedExecutor,
  key: TargetKey,
  options: { limit?: number | undefined } = {},
): Promise<CrawlRun[]> {
  const rows = rowsOf<RunRow>(
    await db.execute(sql`SELECT ${RUN_COLUMNS} FROM crawl_runs
      WHERE provider = ${key.provider} AND user_id = ${key.userId}::bigint
      -- crawl_runs.id, not the text column id of the output: as text, '10' sorts before '9'
      ORDER BY crawl_runs.id DESC LIMIT ${options.limit ?? 20}`),
  );
  return rows.map(toRun);
}
