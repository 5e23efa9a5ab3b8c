import type { ProviderName } from '@birdfeed/model';
import { type SQL, sql } from 'drizzle-orm';
import { type BirdfeedExecutor, rowsOf } from '../database.ts';
import { type CrawlRun, type RunRow, toRun } from './runs.ts';
import { spendDay } from './spend.ts';
import { toDate, toDateOrNull } from './targets.ts';
import type { TargetState } from './types.ts';

export interface TargetStatus {
  provider: ProviderName;
  userId: string;
  username: string | null;
  enabled: boolean;
  state: TargetState;
  stateReason: string | null;
  intervalSeconds: number;
  tags: string[];
  nextDueAt: Date;
  lastRunAt: Date | null;
  checkpoint: {
    sinceId: string | null;
    /** True while a window is open (a run is between its first and last page). */
    windowOpen: boolean;
    windowNewestId: string | null;
    hasCursor: boolean;
    /**
     * X: the window's remaining pages are asked with this `until_id` (its cursor expired after
     * it had listed tweets, and it goes on below the oldest of them). Null: read from its top.
     */
    windowUntilId: string | null;
    windowPages: number;
    backfillDone: boolean;
    /**
     * Windows in a row (across runs) given up on empty pages before they listed a tweet: each
     * one moved nothing and the next run asks again; at EMPTY_GIVEUPS_BEFORE_FAILING (crawl)
     * the target is marked 'failing'. 0: the last window listed a tweet or ended otherwise.
     */
    emptyGiveUps: number;
  } | null;
  lastRun: CrawlRun | null;
  failures: {
    /** Failed page attempts in the last 24 hours. */
    last24h: number;
    total: number;
    last: { errorName: string; errorMessage: string; failedAt: Date } | null;
  };
  gaps: {
    count: number;
    last: {
      sinceId: string | null;
      oldestId: string | null;
      reason: string;
      detectedAt: Date;
    } | null;
  };
}

export interface StatusReport {
  generatedAt: Date;
  targets: TargetStatus[];
  spendToday: Array<{ provider: ProviderName; requests: number; costCents: number }>;
}

interface StatusRow {
  provider: ProviderName;
  user_id: string;
  username: string | null;
  enabled: boolean;
  state: TargetState;
  state_reason: string | null;
  interval_seconds: number | string;
  tags: string[];
  next_due_at: Date | string;
  last_run_at: Date | string | null;
  cp_exists: boolean | null;
  since_id: string | null;
  window_newest_id: string | null;
  cursor_set: boolean | null;
  window_until_id: string | null;
  window_started_at: Date | string | null;
  window_pages: number | null;
  backfill_done: boolean | null;
  empty_giveups: number | null;
  run: RunRow | null;
  failures_24h: number | string;
  failures_total: number | string;
  last_failure: { error_name: string; error_message: string; failed_at: string } | null;
  gaps_count: number | string;
  last_gap: {
    since_id: string | null;
    oldest_id: string | null;
    reason: string;
    detected_at: string;
  } | null;
}

/**
 * The statement behind statusReport's targets, one row per watch target; exported so a test
 * can EXPLAIN it.
 *
 * Each "latest" lookup orders by the column that ends its per-target index
 * (crawl_runs(provider, user_id, started_at), crawl_failures(provider, user_id, failed_at)), the
 * id only breaking ties. Ordered by id alone, the planner walked the primary key backwards and
 * filtered every newer row of every other target: with 1.75M runs, a target without recent runs
 * cost ~159k rows and `birdfeed status` took seconds. crawl_gaps has no time column in its index;
 * ordering by detected_at keeps the planner off the primary key there too, and a target has few
 * gaps to sort. test/status-report-plan.test.ts holds the plans to that.
 */
export function statusTargetsQuery(provider?: ProviderName): SQL {
  const where = provider === undefined ? sql`true` : sql`t.provider = ${provider}`;
  return sql`
      SELECT t.provider, t.user_id::text AS user_id, t.username, t.enabled, t.state, t.state_reason,
        extract(epoch from t."interval")::float8 AS interval_seconds, t.tags, t.next_due_at,
        t.last_run_at,
        (c.user_id IS NOT NULL) AS cp_exists, c.since_id::text AS since_id,
        c.window_newest_id::text AS window_newest_id, (c.cursor IS NOT NULL) AS cursor_set,
        c.window_until_id::text AS window_until_id,
        c.window_started_at, c.window_pages, c.backfill_done, c.empty_giveups,
        r.run, coalesce(f.last24h, 0) AS failures_24h, coalesce(f.total, 0) AS failures_total,
        lf.last_failure, coalesce(g.count, 0) AS gaps_count, lg.last_gap
      FROM watch_targets t
      LEFT JOIN crawl_checkpoints c ON c.provider = t.provider AND c.user_id = t.user_id
      LEFT JOIN LATERAL (
        SELECT json_build_object('id', id::text, 'provider', provider, 'user_id', user_id::text,
          'kind', kind, 'started_at', started_at, 'finished_at', finished_at, 'pages', pages,
          'requests', requests, 'tweets_new', tweets_new, 'tweets_updated', tweets_updated,
          'cost_cents', cost_cents, 'outcome', outcome, 'error', error) AS run
        FROM crawl_runs WHERE provider = t.provider AND user_id = t.user_id
        ORDER BY started_at DESC, id DESC LIMIT 1) r ON true
      LEFT JOIN LATERAL (
        SELECT count(*) FILTER (WHERE failed_at > now() - interval '24 hours') AS last24h,
          count(*) AS total
        FROM crawl_failures WHERE provider = t.provider AND user_id = t.user_id) f ON true
      LEFT JOIN LATERAL (
        SELECT json_build_object('error_name', error_name, 'error_message', error_message,
          'failed_at', failed_at) AS last_failure
        FROM crawl_failures WHERE provider = t.provider AND user_id = t.user_id
        ORDER BY failed_at DESC, id DESC LIMIT 1) lf ON true
      LEFT JOIN LATERAL (
        SELECT count(*) AS count FROM crawl_gaps
        WHERE provider = t.provider AND user_id = t.user_id) g ON true
      LEFT JOIN LATERAL (
        SELECT json_build_object('since_id', since_id::text, 'oldest_id', oldest_id::text,
          'reason', reason, 'detected_at', detected_at) AS last_gap
        FROM crawl_gaps WHERE provider = t.provider AND user_id = t.user_id
        ORDER BY detected_at DESC, id DESC LIMIT 1) lg ON true
      WHERE ${where}
      ORDER BY t.provider, t.user_id`;
}

/** One row per watch target with everything `birdfeed status` shows about it. */
export async function statusReport(
  db: BirdfeedExecutor,
  options: { provider?: ProviderName | undefined; now?: Date | undefined } = {},
): Promise<StatusReport> {
  const now = options.now ?? new Date();
  const rows = rowsOf<StatusRow>(await db.execute(statusTargetsQuery(options.provider)));
  const spend = rowsOf<{ provider: ProviderName; requests: number; cost_cents: number }>(
    await db.execute(sql`SELECT provider, requests, cost_cents FROM provider_spend
      WHERE day = ${spendDay(now)}::date ORDER BY provider`),
  );
  return {
    generatedAt: now,
    targets: rows.map(toTargetStatus),
    spendToday: spend.map((row) => ({
      provider: row.provider,
      requests: row.requests,
      costCents: row.cost_cents,
    })),
  };
}

function toTargetStatus(row: StatusRow): TargetStatus {
  return {
    provider: row.provider,
    userId: row.user_id,
    username: row.username,
    enabled: row.enabled,
    state: row.state,
    stateReason: row.state_reason,
    intervalSeconds: Number(row.interval_seconds),
    tags: row.tags,
    nextDueAt: toDate(row.next_due_at),
    lastRunAt: toDateOrNull(row.last_run_at),
    checkpoint:
      row.cp_exists === true
        ? {
            sinceId: row.since_id,
            windowOpen: row.window_started_at !== null,
            windowNewestId: row.window_newest_id,
            hasCursor: row.cursor_set === true,
            windowUntilId: row.window_until_id,
            windowPages: row.window_pages ?? 0,
            backfillDone: row.backfill_done === true,
            emptyGiveUps: row.empty_giveups ?? 0,
          }
        : null,
    lastRun: row.run === null ? null : toRun(row.run),
    failures: {
      last24h: Number(row.failures_24h),
      total: Number(row.failures_total),
      last:
        row.last_failure === null
          ? null
          : {
              errorName: row.last_failure.error_name,
              errorMessage: row.last_failure.error_message,
              failedAt: toDate(row.last_failure.failed_at),
            },
    },
    gaps: {
      count: Number(row.gaps_count),
      last:
        row.last_gap === null
          ? null
          : {
              sinceId: row.last_gap.since_id,
              oldestId: row.last_gap.oldest_id,
              reason: row.last_gap.reason,
              detectedAt: toDate(row.last_gap.detected_at),
            },
    },
  };
}
