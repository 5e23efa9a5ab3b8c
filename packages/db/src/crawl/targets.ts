import type { ProviderName } from '@birdfeed/model';
import { type SQL, sql } from 'drizzle-orm';
import { type BirdfeedExecutor, rowsOf } from '../database.ts';
import { storableText } from '../storable-text.ts';
import { CLEAR_INVALID_STREAK } from './checkpoints.ts';
import type { TargetKey, TargetState } from './types.ts';

export interface WatchTarget extends TargetKey {
  username: string | null;
  /** The crawl interval in seconds (Postgres `interval`, read as its epoch length). */
  intervalSeconds: number;
  enabled: boolean;
  tags: string[];
  priority: number;
  backfillDepth: number;
  state: TargetState;
  stateReason: string | null;
  nextDueAt: Date;
  lastRunAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface TargetRow {
  provider: ProviderName;
  user_id: string;
  username: string | null;
  interval_seconds: number | string;
  enabled: boolean;
  tags: string[] | string;
  priority: number;
  backfill_depth: number;
  state: TargetState;
  state_reason: string | null;
  next_due_at: Date | string;
  last_run_at: Date | string | null;
  created_at: Date | string;
  updated_at: Date | string;
}

/** Ids as text (PGlite hands int8 back as a JS bigint, node-postgres as a string). */
export function targetColumns(alias = ''): SQL {
  const a = alias === '' ? '' : `${alias}.`;
  return sql.raw(
    `${a}provider, ${a}user_id::text AS user_id, ${a}username,
     extract(epoch from ${a}"interval")::float8 AS interval_seconds, ${a}enabled, ${a}tags,
     ${a}priority, ${a}backfill_depth, ${a}state, ${a}state_reason, ${a}next_due_at,
     ${a}last_run_at, ${a}created_at, ${a}updated_at`,
  );
}
const TARGET_COLUMNS = targetColumns();

export function toDate(value: Date | string): Date {
  return value instanceof Date ? value : new Date(value);
}

export function toDateOrNull(value: Date | string | null): Date | null {
  return value === null ? null : toDate(value);
}

export function toTarget(row: TargetRow): WatchTarget {
  return {
    provider: row.provider,
    userId: row.user_id,
    username: row.username,
    intervalSeconds: Number(row.interval_seconds),
    enabled: row.enabled,
    tags: Array.isArray(row.tags) ? row.tags : parseTextArray(row.tags),
    priority: row.priority,
    backfillDepth: row.backfill_depth,
    state: row.state,
    stateReason: row.state_reason,
    nextDueAt: toDate(row.next_due_at),
    lastRunAt: toDateOrNull(row.last_run_at),
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
  };
}

/** A driver that does not parse text[] returns `{a,b}`; tags are simple labels, no quoting. */
function parseTextArray(value: string): string[] {
  const inner = value.replace(/^\{|\}$/g, '');
  return inner === '' ? [] : inner.split(',').map((tag) => tag.replace(/^"|"$/g, ''));
}

function textArray(values: readonly string[]): SQL {
  if (values.length === 0) return sql`'{}'::text[]`;
  return sql`ARRAY[${sql.join(
    values.map((value) => sql`${value}`),
    sql`, `,
  )}]::text[]`;
}

function timestamp(value: Date): SQL {
  return sql`${value.toISOString()}::timestamptz`;
}

export interface AddTargetInput extends TargetKey {
  username?: string | null | undefined;
  /** @defaultValue 900 (15 minutes) */
  intervalSeconds?: number | undefined;
  tags?: readonly string[] | undefined;
  priority?: number | undefined;
  /** @defaultValue 800 */
  backfillDepth?: number | undefined;
  enabled?: boolean | undefined;
}

/**
 * Adds a target, or updates the fields given for one that exists (the fields left undefined
 * keep their stored value; a new interval also brings the next due time forward to the last run
 * plus that interval when that is sooner). `created` says which happened.
 */
export async function upsertTarget(
  db: BirdfeedExecutor,
  input: AddTargetInput,
): Promise<{ target: WatchTarget; created: boolean }> {
  const interval =
    input.intervalSeconds === undefined
      ? null
      : sql`make_interval(secs => ${input.intervalSeconds})`;
  const tags = input.tags === undefined ? null : textArray(input.tags);
  const rows = rowsOf<TargetRow & { created: boolean }>(
    await db.execute(sql`
      INSERT INTO watch_targets (provider, user_id, username, "interval", tags, priority, backfill_depth, enabled)
      VALUES (
        ${input.provider}, ${input.userId}::bigint, ${input.username ?? null},
        ${interval ?? sql`'15 minutes'::interval`}, ${tags ?? sql`'{}'::text[]`},
        ${input.priority ?? 0}, ${input.backfillDepth ?? 800}, ${input.enabled ?? true}
      )
      ON CONFLICT (provider, user_id) DO UPDATE SET
        username = coalesce(${input.username ?? null}, watch_targets.username),
        "interval" = ${interval ?? sql`watch_targets."interval"`},
        -- A shorter interval applies now, not after the one already scheduled under the old.
        next_due_at = ${
          interval === null
            ? sql`watch_targets.next_due_at`
            : sql`least(watch_targets.next_due_at, coalesce(watch_targets.last_run_at, now()) + ${interval})`
        },
        tags = ${tags ?? sql`watch_targets.tags`},
        priority = ${input.priority ?? sql`watch_targets.priority`},
        backfill_depth = ${input.backfillDepth ?? sql`watch_targets.backfill_depth`},
        enabled = ${input.enabled ?? sql`watch_targets.enabled`},
        updated_at = now()
      RETURNING ${TARGET_COLUMNS}, (xmax = 0) AS created`),
  );
  const row = rows[0];
  if (row === undefined) throw new Error('upsertTarget returned no row');
  return { target: toTarget(row), created: row.created };
}

export async function getTarget(db: BirdfeedExecutor, key: TargetKey): Promise<WatchTarget | null> {
  const rows = rowsOf<TargetRow>(
    await db.execute(sql`SELECT ${TARGET_COLUMNS} FROM watch_targets
      WHERE provider = ${key.provider} AND user_id = ${key.userId}::bigint`),
  );
  return rows[0] === undefined ? null : toTarget(rows[0]);
}

export interface ListTargetsOptions {
  provider?: ProviderName | undefined;
  userId?: string | undefined;
}

export async function listTargets(
  db: BirdfeedExecutor,
  options: ListTargetsOptions = {},
): Promise<WatchTarget[]> {
  const conditions: SQL[] = [sql`true`];
  if (options.provider !== undefined) conditions.push(sql`provider = ${options.provider}`);
  if (options.userId !== undefined) conditions.push(sql`user_id = ${options.userId}::bigint`);
  const rows = rowsOf<TargetRow>(
    await db.execute(sql`SELECT ${TARGET_COLUMNS} FROM watch_targets
      WHERE ${sql.join(conditions, sql` AND `)}
      -- Qualified: a bare user_id here is the output column, the id as text (12 after 1049714).
      ORDER BY watch_targets.provider, watch_targets.user_id`),
  );
  return rows.map(toTarget);
}

/**
 * Enables targets (all providers of the user unless one is given). Enabling also clears an
 * unavailable state: it is how an operator says "try this account again", and it makes the
 * target due at once. It clears the checkpoint's bad-body streak and its count of windows
 * given up on empty pages too (same statement): what marked the target 'failing' was dealt
 * with, and one provider hiccup after re-enabling must not mark it failing again at once.
 */
export async function setTargetEnabled(
  db: BirdfeedExecutor,
  key: { userId: string; provider?: ProviderName | undefined },
  enabled: boolean,
): Promise<WatchTarget[]> {
  const provider = key.provider === undefined ? sql`true` : sql`provider = ${key.provider}`;
  const reset = enabled
    ? sql`, state = 'active', state_reason = NULL, next_due_at = least(next_due_at, now())`
    : sql``;
  const update = sql`UPDATE watch_targets SET enabled = ${enabled}, updated_at = now() ${reset}
      WHERE user_id = ${key.userId}::bigint AND ${provider}
      RETURNING ${TARGET_COLUMNS}`;
  const statement = enabled
    ? sql`WITH t AS (${update}),
      streak AS (UPDATE crawl_checkpoints c SET ${CLEAR_INVALID_STREAK}, empty_giveups = 0
        FROM t WHERE c.provider = t.provider AND c.user_id = t.user_id::bigint
          AND (c.invalid_streak <> 0 OR c.invalid_at_page IS NOT NULL OR c.empty_giveups <> 0)
        RETURNING 1)
      SELECT * FROM t`
    : update;
  const rows = rowsOf<TargetRow>(await db.execute(statement));
  return rows.map(toTarget);
}

/** The provider said the account cannot be read: stop scheduling it until it is re-enabled. */
export async function markTargetUnavailable(
  db: BirdfeedExecutor,
  key: TargetKey,
  state: Exclude<TargetState, 'active'>,
  reason: string,
): Promise<void> {
  await db.execute(sql`UPDATE watch_targets
    SET state = ${state}, state_reason = ${storableText(reason)}, last_run_at = now(), updated_at = now()
    WHERE provider = ${key.provider} AND user_id = ${key.userId}::bigint`);
}

/** Records that a run of the target finished (whatever its outcome). */
export async function touchTargetLastRun(db: BirdfeedExecutor, key: TargetKey): Promise<void> {
  await db.execute(sql`UPDATE watch_targets SET last_run_at = now(), updated_at = now()
    WHERE provider = ${key.provider} AND user_id = ${key.userId}::bigint`);
}

export interface ClaimDueTargetsOptions {
  limit: number;
  /** Only these providers (e.g. the ones with a credential and budget left). */
  providers?: readonly ProviderName[] | undefined;
  /** The clock to compare `next_due_at` with. @defaultValue the database's now() */
  now?: Date | undefined;
}

/**
 * Picks the due, enabled, active targets and moves their `next_due_at` one interval ahead in
 * the same statement. `FOR UPDATE SKIP LOCKED` lets several schedulers (or one-shot runs) claim
 * at once without ever handing the same target to two of them. Highest priority first, then
 * the longest overdue.
 */
export async function claimDueTargets(
  db: BirdfeedExecutor,
  options: ClaimDueTargetsOptions,
): Promise<WatchTarget[]> {
  if (options.limit <= 0) return [];
  if (options.providers !== undefined && options.providers.length === 0) return [];
  const now = options.now === undefined ? sql`now()` : timestamp(options.now);
  const providers =
    options.providers === undefined
      ? sql`true`
      : sql`provider IN (${sql.join(
          options.providers.map((provider) => sql`${provider}`),
          sql`, `,
        )})`;
  const rows = rowsOf<TargetRow & { previous_due_at: Date | string }>(
    await db.execute(sql`
      WITH due AS (
        SELECT provider, user_id, next_due_at FROM watch_targets
        WHERE enabled AND state = 'active' AND next_due_at <= ${now} AND ${providers}
        ORDER BY priority DESC, next_due_at
        LIMIT ${options.limit}
        FOR UPDATE SKIP LOCKED
      )
      UPDATE watch_targets t
      SET next_due_at = ${now} + t."interval", updated_at = now()
      FROM due
      WHERE t.provider = due.provider AND t.user_id = due.user_id
      RETURNING ${targetColumns('t')},
        due.next_due_at AS previous_due_at`),
  );
  return rows
    .map((row) => ({ target: toTarget(row), previous: toDate(row.previous_due_at).getTime() }))
    .sort(
      (a, b) =>
        b.target.priority - a.target.priority ||
        a.previous - b.previous ||
        a.target.userId.localeCompare(b.target.userId),
    )
    .map(({ target }) => target);
}

/**
 * Undoes a claim that could not be acted on (Redis away during the tick, a database hiccup):
 * the target is due again after `retryInSeconds` (or its interval, if shorter) instead of a
 * whole interval later — a daily target would otherwise skip a day. Only while its next due
 * time is still the one the claim set (nobody claimed or rescheduled it since).
 */
export async function releaseClaim(
  db: BirdfeedExecutor,
  target: Pick<WatchTarget, 'provider' | 'userId' | 'nextDueAt'>,
  retryInSeconds: number,
): Promise<boolean> {
  const rows = rowsOf<{ released: boolean }>(
    await db.execute(sql`UPDATE watch_targets
      SET next_due_at = now() + least("interval", make_interval(secs => ${retryInSeconds})),
        updated_at = now()
      WHERE provider = ${target.provider} AND user_id = ${target.userId}::bigint
        AND abs(extract(epoch FROM next_due_at - ${target.nextDueAt.toISOString()}::timestamptz)) < 0.001
      RETURNING true AS released`),
  );
  return rows.length > 0;
}

/**
 * Claims the given target whether or not it is due (an explicit `crawl --once --user`), moving
 * its next due time one interval ahead. Null when it does not exist or another process holds it.
 */
export async function claimTarget(
  db: BirdfeedExecutor,
  key: TargetKey,
  options: { now?: Date | undefined } = {},
): Promise<WatchTarget | null> {
  const now = options.now === undefined ? sql`now()` : timestamp(options.now);
  const rows = rowsOf<TargetRow>(
    await db.execute(sql`
      UPDATE watch_targets SET next_due_at = ${now} + "interval", updated_at = now()
      WHERE (provider, user_id) IN (
        SELECT provider, user_id FROM watch_targets
        WHERE provider = ${key.provider} AND user_id = ${key.userId}::bigint
        FOR UPDATE SKIP LOCKED)
      RETURNING ${TARGET_COLUMNS}`),
  );
  return rows[0] === undefined ? null : toTarget(rows[0]);
}

/** How many targets are due now (enabled, active), per provider. */
export async function countDueTargets(
  db: BirdfeedExecutor,
  options: { now?: Date | undefined } = {},
): Promise<Partial<Record<ProviderName, number>>> {
  const now = options.now === undefined ? sql`now()` : timestamp(options.now);
  const rows = rowsOf<{ provider: ProviderName; due: number | string }>(
    await db.execute(sql`SELECT provider, count(*) AS due FROM watch_targets
      WHERE enabled AND state = 'active' AND next_due_at <= ${now} GROUP BY provider`),
  );
  return Object.fromEntries(rows.map((row) => [row.provider, Number(row.due)]));
}

/**
 * The database's clock. Due times are compared on it, never on the caller's: an app host whose
 * clock runs behind the database's (or merely truncates to milliseconds) would skip targets.
 */
export async function databaseNow(db: BirdfeedExecutor): Promise<Date> {
  const rows = rowsOf<{ now: Date | string }>(
    await db.execute(sql`SELECT clock_timestamp() AS now`),
  );
  const row = rows[0];
  if (row === undefined) throw new Error('SELECT clock_timestamp() returned no row');
  return toDate(row.now);
}
