import type { ProviderName } from '@birdfeed/model';
import { sql } from 'drizzle-orm';
import { type BirdfeedExecutor, rowsOf } from '../database.ts';

export interface RawPageInput {
  provider: ProviderName;
  userId: string;
  /** The body exactly as received; may be invalid JSON. */
  body: string;
  /** The request URL without any credential. */
  requestUrl: string;
  status: number;
  runId?: string | null | undefined;
  fetchedAt?: Date | undefined;
  /** Why the body could not be used (validation error…), null when it was. */
  error?: string | null | undefined;
}

/** Keeps one fetched body in raw_pages; returns its id (a decimal string). */
export async function recordRawPage(db: BirdfeedExecutor, input: RawPageInput): Promise<string> {
  const [row] = rowsOf<{ id: string }>(
    await db.execute(sql`insert into raw_pages (provider, user_id, run_id, fetched_at, request_url, status, body, error)
      values (${input.provider}, ${input.userId}::bigint, ${input.runId ?? null}::bigint,
        ${(input.fetchedAt ?? new Date()).toISOString()}::timestamptz, ${input.requestUrl},
        ${input.status}, ${input.body}, ${input.error ?? null})
      returning id::text as id`),
  );
  if (row === undefined) throw new Error('raw_pages insert returned no id');
  return row.id;
}
