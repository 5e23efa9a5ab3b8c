import type { ProviderName } from '@birdfeed/model';
import { sql } from 'drizzle-orm';
import { type BirdfeedExecutor, rowsOf } from '../database.ts';
import { storableText } from '../storable-text.ts';
import { toDate } from './targets.ts';
import type { TargetKey } from './types.ts';

export interface FailureInput extends TargetKey {
  runId?: string | null | undefined;
  jobId?: string | null | undefined;
  /** @defaultValue 1 */
  attempt?: number | undefined;
  errorName: string;
  errorMessage: string;
  status?: number | null | undefined;
  rawPageId?: string | null | undefined;
}

export interface CrawlFailure extends TargetKey {
  id: string;
  runId: string | null;
  jobId: string | null;
  attempt: number;
  errorName: string;
  errorMessage: string;
  status: number | null;
  rawPageId: string | null;
  failedAt: Date;
}

/** Keeps a failed page attempt in Postgres, where it outlives the job in Redis. Returns its id. */
export async function recordFailure(db: BirdfeedExecutor, input: FailureInput): Promise<string> {
  const rows = rowsOf<{ id: string }>(
    await db.execute(sql`INSERT INTO crawl_failures
      (run_id, provider, user_id, job_id, attempt, error_name, error_message, status, raw_page_id)
      VALUES (${input.runId ?? null}::bigint, ${input.provider}, ${input.userId}::bigint,
        ${input.jobId ?? null}, ${input.attempt ?? 1}, ${storableText(input.errorName)},
        ${storableText(input.errorMessage)},
        ${input.status ?? null}::int, ${input.rawPageId ?? null}::bigint)
      RETURNING id::text AS id`),
  );
  const row = rows[0];
  if (row === undefined) throw new Error('recordFailure returned no row');
  return row.id;
}

/** Fills in what only the transport knows (job id, attempt) on a failure the step recorded. */
export async function updateFailureJob(
  db: BirdfeedExecutor,
  failureId: string,
  job: { jobId?: string | null | undefined; attempt?: number | undefined },
): Promise<void> {
  await db.execute(sql`UPDATE crawl_failures SET
    job_id = coalesce(${job.jobId ?? null}, job_id), attempt = coalesce(${job.attempt ?? null}::int, attempt)
    WHERE id = ${failureId}::bigint`);
}

export async function listFailures(
  db: BirdfeedExecutor,
  key: TargetKey,
  options: { limit?: number | undefined } = {},
): Promise<CrawlFailure[]> {
  const rows = rowsOf<{
    id: string;
    run_id: string | null;
    provider: ProviderName;
    user_id: string;
    job_id: string | null;
    attempt: number;
    error_name: string;
    error_message: string;
    status: number | null;
    raw_page_id: string | null;
    failed_at: Date | string;
  }>(
    await db.execute(sql`SELECT id::text AS id, run_id::text AS run_id, provider,
        user_id::text AS user_id, job_id, attempt, error_name, error_message, status,
        raw_page_id::text AS raw_page_id, failed_at
      FROM crawl_failures WHERE provider = ${key.provider} AND user_id = ${key.userId}::bigint
      -- crawl_failures.id, not the text column id of the output: as text, '10' sorts before '9'
      ORDER BY crawl_failures.id DESC LIMIT ${options.limit ?? 20}`),
  );
  return rows.map((row) => ({
    id: row.id,
    runId: row.run_id,
    provider: row.provider,
    userId: row.user_id,
    jobId: row.job_id,
    attempt: row.attempt,
    errorName: row.error_name,
    errorMessage: row.error_message,
    status: row.status,
    rawPageId: row.raw_page_id,
    failedAt: toDate(row.failed_at),
  }));
}
