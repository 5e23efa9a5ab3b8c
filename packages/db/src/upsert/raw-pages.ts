import type { ProviderName } from '@birdfeed/model';
import { type BirdfeedExecutor, executePrepared } from '../database.ts';
import { type Statement as SQL, stmt as sql } from '../statement.ts';
import { storableText } from '../storable-text.ts';

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

function rawPageInsert(input: RawPageInput): SQL {
  return sql`insert into raw_pages (provider, user_id, run_id, fetched_at, request_url, status, body, error)
    values (${input.provider}, ${input.userId}::bigint, ${input.runId ?? null}::bigint,
      ${(input.fetchedAt ?? new Date()).toISOString()}::timestamptz, ${input.requestUrl},
      ${input.status}::int, ${storableText(input.body)}, ${storableText(input.error ?? null)}::text)
    returning id`;
}

/** The raw_pages insert as a CTE of the page statement; it returns `id`. */
export function rawPageCte(input: RawPageInput, name: string): SQL {
  return sql`${sql.raw(name)} as (${rawPageInsert(input)})`;
}

/**
 * Keeps one fetched body in raw_pages (e.g. one that failed validation, with its error);
 * returns its id as a decimal string.
 */
export async function recordRawPage(db: BirdfeedExecutor, input: RawPageInput): Promise<string> {
  const [row] = await executePrepared<{ id: string }>(
    db,
    sql`with saved as (${rawPageInsert(input)}) select id::text as id from saved`,
  );
  if (row === undefined) throw new Error('raw_pages insert returned no id');
  return row.id;
}
