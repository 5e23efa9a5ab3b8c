import type { ProviderName } from '@birdfeed/model';
import { sql } from 'drizzle-orm';
import { type BirdfeedExecutor, rowsOf } from '../database.ts';
import { toDate } from './targets.ts';
import type { TargetKey } from './types.ts';

/**
 * `empty_pages`: the window gave up on a run of empty pages with a next token
 * (EMPTY_PAGES_BEFORE_END in crawl-page.ts) before reaching since_id.
 * `cursor_repeated`: the provider answered a page of results with the cursor it was asked with.
 * `window_page_cap`: the window reached MAX_WINDOW_PAGES (crawl-page.ts) with a next cursor.
 * `budget`: AGNTDATA_DAILY_BUDGET_CENTS stopped the window part-way; its cursor would have
 * expired before the next day's budget, so the window was completed with what it read (a
 * backfill, or an incremental window too deep to read again within a day's budget).
 */
export type GapReason =
  | 'x_timeline_cap'
  | 'agntdata_exhausted'
  | 'empty_pages'
  | 'cursor_repeated'
  | 'window_page_cap'
  | 'budget'
  | (string & {});

export interface CrawlGap extends TargetKey {
  id: string;
  /** The checkpoint when the gap was found: everything up to it is stored. */
  sinceId: string | null;
  /** The oldest tweet the provider still returned: everything from it up is stored. */
  oldestId: string | null;
  reason: GapReason;
  detectedAt: Date;
}

/**
 * Records a stretch of timeline, strictly between `sinceId` and `oldestId`, that the provider
 * can no longer serve. Recorded rather than hidden: the checkpoint moves past it anyway.
 */
export async function recordGap(
  db: BirdfeedExecutor,
  input: TargetKey & { sinceId: string | null; oldestId: string | null; reason: GapReason },
): Promise<string> {
  const rows = rowsOf<{ id: string }>(
    await db.execute(sql`INSERT INTO crawl_gaps (provider, user_id, since_id, oldest_id, reason)
      VALUES (${input.provider}, ${input.userId}::bigint, ${input.sinceId}::bigint,
        ${input.oldestId}::bigint, ${input.reason})
      RETURNING id::text AS id`),
  );
  const row = rows[0];
  if (row === undefined) throw new Error('recordGap returned no row');
  return row.id;
}

export async function listGaps(db: BirdfeedExecutor, key: TargetKey): Promise<CrawlGap[]> {
  const rows = rowsOf<{
    id: string;
    provider: ProviderName;
    user_id: string;
    since_id: string | null;
    oldest_id: string | null;
    reason: string;
    detected_at: Date | string;
  }>(
    await db.execute(sql`SELECT id::text AS id, provider, user_id::text AS user_id,
        since_id::text AS since_id, oldest_id::text AS oldest_id, reason, detected_at
      FROM crawl_gaps WHERE provider = ${key.provider} AND user_id = ${key.userId}::bigint
      -- crawl_gaps.id, not the text column id of the output: as text, '10' sorts before '9'
      ORDER BY crawl_gaps.id`),
  );
  return rows.map((row) => ({
    id: row.id,
    provider: row.provider,
    userId: row.user_id,
    sinceId: row.since_id,
    oldestId: row.oldest_id,
    reason: row.reason,
    detectedAt: toDate(row.detected_at),
  }));
}
