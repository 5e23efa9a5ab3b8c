import {
  addRunProgress,
  addSpend,
  attachRun,
  type BirdfeedDb,
  type BirdfeedExecutor,
  beginWindow,
  type CrawlCheckpoint,
  type CrawlKind,
  type CrawlRun,
  completeWindow,
  ensureCheckpoint,
  finishRun,
  getCheckpoint,
  getRun,
  getTarget,
  markTargetUnavailable,
  recordFailure,
  recordGap,
  recordRawPage,
  resetWindow,
  rowsOf,
  savePageProgress,
  spendDay,
  startRun,
  type TargetKey,
  touchTargetLastRun,
  upsertPage,
  type WatchTarget,
} from '@birdfeed/db';
import { type CanonicalPage, compareIds, type ProviderName } from '@birdfeed/model';
import {
  AccountUnavailableError,
  InvalidCursorError,
  InvalidResponseError,
} from '@birdfeed/providers';
import { sql } from 'drizzle-orm';
import {
  describeError,
  markFailureRecorded,
  ProviderMismatchError,
  StaleCheckpointError,
  TargetNotFoundError,
} from './errors.ts';
import { type CrawlLogger, silentLogger } from './logger.ts';
import type { CrawlClient, RateLimitInfo, TimelinePageRequest } from './timeline-client.ts';

/** X serves only the newest 3,200 tweets of a timeline (DESIGN.md, "Providers"). */
export const X_TIMELINE_CAP = 3200;

export interface CrawlPageOptions {
  db: BirdfeedDb;
  /** The provider client; its `provider` must be the target's. */
  client: CrawlClient;
  target: TargetKey;
  /**
   * The crawl_runs row this page belongs to. Omitted: the step opens one (or adopts the
   * target's run still in progress), and returns its id for the next page.
   */
  runId?: string | null | undefined;
  /** Aborts the request (a job deadline, a shutdown). */
  signal?: AbortSignal | undefined;
  logger?: CrawlLogger | undefined;
  /** @defaultValue () => new Date() */
  now?: (() => Date) | undefined;
  /** Tweets asked per page. @defaultValue the client's own page size */
  pageSize?: number | undefined;
  /**
   * How many tweets X returns at most for one timeline: an incremental window that returns
   * this many without reaching `since_id` has hit the cap, and the rest is a gap.
   * @defaultValue 3200
   */
  timelineCap?: number | undefined;
}

/**
 * What happened:
 * - `page`: a page was written; the window goes on (`next: 'page'`).
 * - `window_completed`: the last page of the window was written; since_id moved.
 * - `cursor_expired`: the provider rejected the saved cursor; the window restarts from since_id.
 * - `unavailable`: the account cannot be read; the target is marked and the run closed.
 * - `inactive`: the target is disabled or marked; the run was cancelled without a request.
 * - `stale`: another execution of this step already moved the checkpoint (or closed the run);
 *   nothing was written by this one.
 */
export type CrawlStepOutcome =
  | 'page'
  | 'window_completed'
  | 'cursor_expired'
  | 'unavailable'
  | 'inactive'
  | 'stale';

export interface CrawlGapFound {
  sinceId: string | null;
  oldestId: string | null;
  reason: string;
}

export interface CrawlStepResult {
  /** `page`: run the step again (same run) for the next page; `done`: the run is over. */
  next: 'page' | 'done';
  outcome: CrawlStepOutcome;
  provider: ProviderName;
  userId: string;
  runId: string;
  /** Backfills (a new target) are less urgent than incremental runs: a job priority. */
  kind: CrawlKind;
  /** What this step did: 0 or 1 page written, 0 or 1 request made. */
  pages: number;
  requests: number;
  tweetsNew: number;
  tweetsUpdated: number;
  /** Timeline tweets on the page (the provider's results, not embedded tweets). */
  timelineTweets: number;
  costCents: number;
  /** Pages read so far in the open window (0 once it completed). */
  windowPages: number;
  /** The checkpoint after this step. */
  sinceId: string | null;
  cursor: string | null;
  gap: CrawlGapFound | null;
  rateLimit: RateLimitInfo | null;
  /** The run's outcome when it ended with this step. */
  runOutcome: 'succeeded' | 'unavailable' | 'cancelled' | null;
}

/**
 * The crawl step: reads the target's checkpoint, fetches ONE page, writes the page, the
 * checkpoint transition, the run counters and the spend in one transaction, and says what
 * comes next. BullMQ, the one-shot loop and the tests all drive this same function.
 *
 * Errors: `AccountUnavailableError` is handled here (target marked, run closed, `done`).
 * `InvalidResponseError` keeps the body in raw_pages and a crawl_failures row, then is
 * rethrown. Everything else (rate limits, 5xx, 401/403, aborts) is rethrown untouched with
 * nothing written: the transport owns retries and calls `recordJobFailure` when it gives up.
 */
export async function crawlPage(options: CrawlPageOptions): Promise<CrawlStepResult> {
  const { db, client } = options;
  const now = options.now ?? (() => new Date());
  const logger = options.logger ?? silentLogger;
  const key: TargetKey = { provider: options.target.provider, userId: options.target.userId };
  if (client.provider !== key.provider) {
    throw new ProviderMismatchError(
      `a ${client.provider} client cannot crawl the ${key.provider} target ${key.userId}`,
    );
  }
  const target = await getTarget(db, key);
  if (target === null) throw new TargetNotFoundError(key);

  let checkpoint = await ensureCheckpoint(db, key);
  const resolved = await resolveRun(db, key, options.runId ?? null);
  if (resolved.stale) return idle(key, resolved.run, checkpoint, 'stale');
  const run = resolved.run;

  if (!target.enabled || target.state !== 'active') {
    const why = target.enabled ? `target is ${target.state}` : 'target is disabled';
    await finishRun(db, run.id, 'cancelled', why);
    logger.info({ ...key, runId: run.id, why }, 'crawl: target inactive, run cancelled');
    return { ...idle(key, run, checkpoint, 'inactive'), runOutcome: 'cancelled' };
  }

  if (checkpoint.windowStartedAt === null) {
    // Step 1: open the window. Milliseconds only, so the compare-and-set can match it exactly.
    const startedAt = new Date(now().getTime());
    checkpoint =
      (await beginWindow(db, key, checkpoint, { runId: run.id, startedAt })) ??
      (await ensureCheckpoint(db, key));
  } else if (checkpoint.runId !== run.id) {
    await attachRun(db, key, run.id);
  }

  const kind: CrawlKind = checkpoint.sinceId === null ? 'backfill' : 'incremental';
  const request = buildRequest(target, checkpoint, kind, options);

  let fetched: Awaited<ReturnType<CrawlClient['fetchTimelinePage']>>;
  try {
    fetched = await client.fetchTimelinePage(request);
  } catch (error) {
    return handleFetchError(error, { db, key, run, kind, checkpoint, request, now, logger });
  }

  const page = fetched.page;
  const ids = timelineIds(page);
  const newest = page.newestId ?? maxId(ids);
  const oldest = page.oldestId ?? minId(ids);
  const sinceId = checkpoint.sinceId;
  const windowNewestId = maxOf(checkpoint.windowNewestId, newest);
  const windowFetched = checkpoint.windowFetched + ids.length;
  // agntdata has no since_id parameter: the page that reaches it is the window's last (X never
  // returns such ids when asked with since_id, so for X this stays false).
  const reachedSinceId = sinceId !== null && oldest !== null && compareIds(oldest, sinceId) <= 0;
  const depthReached = kind === 'backfill' && windowFetched >= target.backfillDepth;
  const nextCursor = page.cursor.next;
  // A page with no results but a next token (X does this) does not end the window.
  const windowEnds = nextCursor === null || reachedSinceId || depthReached;

  let gap: CrawlGapFound | null = null;
  if (kind === 'incremental' && nextCursor === null && !reachedSinceId) {
    const capHit =
      key.provider === 'x'
        ? windowFetched >= (options.timelineCap ?? X_TIMELINE_CAP)
        : windowFetched > 0; // agntdata ran out of pages before reaching since_id
    if (capHit) {
      gap = {
        sinceId,
        oldestId: oldest ?? (await oldestStoredSince(db, key.userId, sinceId)),
        reason: key.provider === 'x' ? 'x_timeline_cap' : 'agntdata_exhausted',
      };
    }
  }
  const newSinceId = maxOf(sinceId, windowNewestId);
  const at = now();

  let after: CrawlCheckpoint | null = null;
  let counts = { tweetsNew: 0, tweetsUpdated: 0 };
  let countedInTransaction = false;
  try {
    const result = await upsertPage(db, page, {
      raw: {
        body: fetched.rawBody,
        requestUrl: fetched.requestUrl,
        status: fetched.status,
        runId: run.id,
      },
      inTransaction: async (tx: BirdfeedExecutor, upserted?: UpsertCounts) => {
        after = windowEnds
          ? await completeWindow(tx, key, checkpoint, {
              sinceId: newSinceId,
              backfillDone: kind === 'backfill' ? true : undefined,
            })
          : await savePageProgress(tx, key, checkpoint, {
              cursor: nextCursor as string,
              windowNewestId,
              fetched: ids.length,
            });
        if (after === null) throw new StaleCheckpointError('the checkpoint moved during the page');
        countedInTransaction = upserted !== undefined;
        await addRunProgress(tx, run.id, {
          pages: 1,
          requests: 1,
          costCents: fetched.costCents,
          tweetsNew: upserted?.tweetsNew ?? 0,
          tweetsUpdated: upserted?.tweetsUpdated ?? 0,
        });
        await addSpend(tx, {
          provider: key.provider,
          day: spendDay(at),
          cents: fetched.costCents,
          requests: 1,
        });
        if (gap !== null) await recordGap(tx, { ...key, ...gap });
        if (windowEnds) {
          await finishRun(tx, run.id, 'succeeded');
          await touchTargetLastRun(tx, key);
        }
      },
    });
    counts = { tweetsNew: result.tweetsNew, tweetsUpdated: result.tweetsUpdated };
    if (!countedInTransaction) {
      // upsertPage hands `inTransaction` only the transaction, not its counts: the tweet counts
      // follow right after the commit. A crash in between costs statistics, never data.
      await addRunProgress(db, run.id, counts);
    }
  } catch (error) {
    if (error instanceof StaleCheckpointError) {
      logger.warn({ ...key, runId: run.id }, 'crawl: checkpoint moved meanwhile; page dropped');
      return idle(key, run, (await getCheckpoint(db, key)) ?? checkpoint, 'stale');
    }
    throw error;
  }
  const saved = after as CrawlCheckpoint | null;
  if (gap !== null) {
    logger.warn({ ...key, runId: run.id, gap }, 'crawl: the provider can no longer serve a gap');
  }
  logger.debug(
    { ...key, runId: run.id, kind, tweets: ids.length, next: windowEnds ? 'done' : 'page' },
    'crawl: page written',
  );
  return {
    next: windowEnds ? 'done' : 'page',
    outcome: windowEnds ? 'window_completed' : 'page',
    provider: key.provider,
    userId: key.userId,
    runId: run.id,
    kind,
    pages: 1,
    requests: 1,
    tweetsNew: counts.tweetsNew,
    tweetsUpdated: counts.tweetsUpdated,
    timelineTweets: ids.length,
    costCents: fetched.costCents,
    windowPages: saved?.windowPages ?? 0,
    sinceId: saved?.sinceId ?? newSinceId,
    cursor: saved?.cursor ?? null,
    gap,
    rateLimit: fetched.rateLimit,
    runOutcome: windowEnds ? 'succeeded' : null,
  };
}

interface UpsertCounts {
  tweetsNew?: number;
  tweetsUpdated?: number;
}

/**
 * Opens the run of a target, or returns the one still in progress. The scheduler calls this
 * before enqueuing a first page, so every job of the run carries its id.
 */
export async function openRun(db: BirdfeedExecutor, key: TargetKey): Promise<CrawlRun> {
  const checkpoint = await ensureCheckpoint(db, key);
  if (checkpoint.runId !== null) {
    const current = await getRun(db, checkpoint.runId);
    if (current !== null && current.outcome === 'running') return current;
  }
  const run = await startRun(db, {
    ...key,
    kind: checkpoint.sinceId === null ? 'backfill' : 'incremental',
  });
  await attachRun(db, key, run.id);
  return run;
}

async function resolveRun(
  db: BirdfeedDb,
  key: TargetKey,
  runId: string | null,
): Promise<{ run: CrawlRun; stale: boolean }> {
  if (runId === null) return { run: await openRun(db, key), stale: false };
  const run = await getRun(db, runId);
  if (run === null) throw new Error(`crawl run ${runId} does not exist`);
  if (run.provider !== key.provider || run.userId !== key.userId) {
    throw new Error(`crawl run ${runId} belongs to ${run.provider}:${run.userId}`);
  }
  // A page job of a run that already ended (a duplicate delivered after a stall): starting a
  // new window under a closed run would be a second run nobody scheduled.
  if (run.outcome !== 'running') return { run, stale: true };
  return { run, stale: false };
}

function buildRequest(
  target: WatchTarget,
  checkpoint: CrawlCheckpoint,
  kind: CrawlKind,
  options: CrawlPageOptions,
): TimelinePageRequest {
  const request: TimelinePageRequest = { userId: target.userId, cursor: checkpoint.cursor };
  // X: since_id on EVERY page of the window, with the saved pagination token. agntdata has no
  // since_id: the step stops itself at the page that reaches it.
  if (target.provider === 'x' && checkpoint.sinceId !== null) request.sinceId = checkpoint.sinceId;
  if (options.signal !== undefined) request.signal = options.signal;
  let size = options.pageSize;
  if (kind === 'backfill' && target.provider === 'x') {
    const remaining = Math.max(1, target.backfillDepth - checkpoint.windowFetched);
    if (remaining < (size ?? 100)) size = remaining;
  }
  if (size !== undefined) {
    // X accepts max_results 5..100.
    request.maxResults = target.provider === 'x' ? Math.min(100, Math.max(5, size)) : size;
  }
  return request;
}

interface FetchErrorContext {
  db: BirdfeedDb;
  key: TargetKey;
  run: CrawlRun;
  kind: CrawlKind;
  checkpoint: CrawlCheckpoint;
  request: TimelinePageRequest;
  now: () => Date;
  logger: CrawlLogger;
}

async function handleFetchError(error: unknown, ctx: FetchErrorContext): Promise<CrawlStepResult> {
  const { db, key, run, checkpoint, logger } = ctx;
  if (error instanceof InvalidCursorError && checkpoint.cursor !== null) {
    // Step "an expired cursor restarts the window from since_id": the pages re-read are upserts.
    const restarted = await db.transaction(async (tx) => {
      const reset = await resetWindow(tx, key, checkpoint, {
        startedAt: new Date(ctx.now().getTime()),
      });
      if (reset !== null) await addRunProgress(tx, run.id, { requests: 1 });
      return reset;
    });
    logger.warn(
      { ...key, runId: run.id, windowPages: checkpoint.windowPages },
      'crawl: cursor expired, restarting the window from since_id',
    );
    if (restarted === null)
      return idle(key, run, (await getCheckpoint(db, key)) ?? checkpoint, 'stale');
    return { ...idle(key, run, restarted, 'cursor_expired'), next: 'page', requests: 1 };
  }
  if (error instanceof AccountUnavailableError) {
    const reason = `${error.reason}: ${error.message}`.slice(0, 500);
    const after = await db.transaction(async (tx) => {
      await markTargetUnavailable(tx, key, error.reason, reason);
      // The saved cursor will not outlive the account's absence; keep since_id.
      const reset = await resetWindow(tx, key, null, { startedAt: null });
      await addRunProgress(tx, run.id, { requests: 1 });
      await finishRun(tx, run.id, 'unavailable', reason);
      return reset;
    });
    logger.warn(
      { ...key, runId: run.id, reason: error.reason },
      'crawl: account unavailable, target marked',
    );
    return {
      ...idle(key, run, after ?? checkpoint, 'unavailable'),
      requests: 1,
      runOutcome: 'unavailable',
    };
  }
  if (error instanceof InvalidResponseError) {
    // Kept as received with the reason, so a fixed normalizer can replay it; none of its rows
    // are written. Then the job fails visibly.
    const described = describeError(error);
    const failureId = await db.transaction(async (tx) => {
      const rawPageId = await recordRawPage(tx, {
        ...key,
        runId: run.id,
        requestUrl: requestUrlOf(error, ctx.request, key.provider),
        status: error.status ?? 200,
        body: error.rawBody,
        error: `${described.message} (at ${error.path})`,
      });
      await addRunProgress(tx, run.id, { requests: 1 });
      return recordFailure(tx, {
        ...key,
        runId: run.id,
        errorName: described.name,
        errorMessage: `${described.message} (at ${error.path})`,
        status: error.status ?? null,
        rawPageId,
      });
    });
    markFailureRecorded(error, failureId);
    logger.error(
      { ...key, runId: run.id, path: error.path, failureId },
      'crawl: invalid response body kept in raw_pages',
    );
  }
  // Rate limits, 5xx, 401/403, aborts: the transport decides. The request still counts in the
  // run (it was made), outside any page transaction since no page was written.
  if (!(error instanceof InvalidResponseError)) {
    await addRunProgress(db, run.id, { requests: 1 }).catch((counterError: unknown) => {
      logger.warn(
        { ...key, runId: run.id, error: describeError(counterError).message },
        'crawl: could not count a failed request in its run',
      );
    });
  }
  throw error;
}

/** The request as a path without host or credential, for a raw page whose body failed. */
function requestUrlOf(error: object, request: TimelinePageRequest, provider: ProviderName): string {
  const carried = (error as { requestUrl?: unknown }).requestUrl;
  if (typeof carried === 'string' && carried !== '') return carried;
  if (provider === 'x') {
    const params = new URLSearchParams();
    if (request.sinceId) params.set('since_id', request.sinceId);
    if (request.cursor) params.set('pagination_token', request.cursor);
    const query = params.toString();
    return `/2/users/${request.userId}/tweets${query === '' ? '' : `?${query}`}`;
  }
  return request.cursor ? '/user/medias/continuation' : '/user/medias';
}

function idle(
  key: TargetKey,
  run: CrawlRun,
  checkpoint: CrawlCheckpoint,
  outcome: CrawlStepOutcome,
): CrawlStepResult {
  return {
    next: 'done',
    outcome,
    provider: key.provider,
    userId: key.userId,
    runId: run.id,
    kind: run.kind,
    pages: 0,
    requests: 0,
    tweetsNew: 0,
    tweetsUpdated: 0,
    timelineTweets: 0,
    costCents: 0,
    windowPages: checkpoint.windowPages,
    sinceId: checkpoint.sinceId,
    cursor: checkpoint.cursor,
    gap: null,
    rateLimit: null,
    runOutcome: null,
  };
}

function timelineIds(page: CanonicalPage): string[] {
  return page.tweets.filter((tweet) => tweet.fromTimeline).map((tweet) => tweet.id);
}

function maxOf(a: string | null, b: string | null): string | null {
  if (a === null) return b;
  if (b === null) return a;
  return compareIds(a, b) >= 0 ? a : b;
}

function maxId(ids: string[]): string | null {
  return ids.reduce<string | null>((best, id) => maxOf(best, id), null);
}

function minId(ids: string[]): string | null {
  return ids.reduce<string | null>(
    (best, id) => (best === null || compareIds(id, best) < 0 ? id : best),
    null,
  );
}

/**
 * The oldest tweet of the account stored above the checkpoint: the window's oldest when its
 * last page came back empty (the pages before it were written by earlier steps).
 */
async function oldestStoredSince(
  db: BirdfeedExecutor,
  userId: string,
  sinceId: string | null,
): Promise<string | null> {
  const above = sinceId === null ? sql`true` : sql`id > ${sinceId}::bigint`;
  const rows = rowsOf<{ id: string | null }>(
    await db.execute(
      sql`SELECT min(id)::text AS id FROM tweets WHERE author_id = ${userId}::bigint AND ${above}`,
    ),
  );
  return rows[0]?.id ?? null;
}
