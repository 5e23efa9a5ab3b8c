import {
  addRunProgress,
  addSpend,
  attachRun,
  type BirdfeedDb,
  type BirdfeedExecutor,
  type CrawlCheckpoint,
  type CrawlKind,
  type CrawlRun,
  type CrawlStepState,
  commitPageTransition,
  countInvalidPage,
  ensureCheckpoint,
  finishRun,
  getCheckpoint,
  InvalidPageError,
  markTargetUnavailable,
  noteSucceededRun,
  openOrAdoptRun,
  readCrawlStepState,
  recordFailure,
  recordRawPage,
  reserveSpend,
  resetWindow,
  resumeWindowBelow,
  type SpendReservation,
  spendDay,
  spentToday,
  type TargetKey,
  upsertPage,
  type WatchTarget,
} from '@birdfeed/db';
import { type CanonicalPage, compareIds, errorChain, type ProviderName } from '@birdfeed/model';
import {
  AccountUnavailableError,
  AGNTDATA_DEFAULT_COST_CENTS,
  BadRequestError,
  InvalidCursorError,
  InvalidResponseError,
} from '@birdfeed/providers';
import {
  BilledPageFailedError,
  describeError,
  markFailureRecorded,
  ProviderMismatchError,
  RunMismatchError,
  StaleCheckpointError,
  TargetNotFoundError,
} from './errors.ts';
import { type CrawlLogger, silentLogger } from './logger.ts';
import type { CrawlClient, RateLimitInfo, TimelinePageRequest } from './timeline-client.ts';

/** X serves only the newest 3,200 tweets of a timeline (DESIGN.md, "Providers"). */
export const X_TIMELINE_CAP = 3200;

/**
 * Invalid bodies in a row at the same position before the target is marked 'failing': one can
 * be a provider's bad moment, three in a row of the same page will not fix themselves, and each
 * scheduled run would buy that page again. "In a row" spans runs and window restarts (an
 * expired agntdata cursor re-reads the pages above it): the streak is cleared only when a page
 * at or past that position is written or the window completes (countInvalidPage in
 * @birdfeed/db).
 */
export const INVALID_PAGES_BEFORE_FAILING = 3;

/**
 * Empty pages in a row (each with a next token) after which the window ends. An empty page is
 * not the end of a timeline (the tweets below it can still come), but a provider that hands
 * out a token under nothing forever (at the very end of a timeline, or the same token again)
 * would be asked forever: X spends the credential's rate limit on it, agntdata bills every
 * page. A window that ends this way records a gap (`empty_pages`).
 */
export const EMPTY_PAGES_BEFORE_END: Readonly<Record<ProviderName, number>> = {
  x: 10,
  agntdata: 3,
};

/**
 * Windows in a row given up on empty pages before they listed a single tweet, after which the
 * target is marked 'failing'. Such a window moves nothing and records no gap (there is no id to
 * bound one): a backfill stays not done, since_id stays where it was, and every scheduled run
 * buys the same EMPTY_PAGES_BEFORE_END pages again (X's rate limit; agntdata bills each one)
 * for ever. One can be a provider's bad moment; three runs in a row will not fix themselves.
 * "In a row" spans runs: the count (crawl_checkpoints.empty_giveups) is cleared when a page
 * lists a tweet, when a window completes any other way, and by `watchlist enable`.
 */
export const EMPTY_GIVEUPS_BEFORE_FAILING = 3;

/**
 * Pages one window may take before it is ended, whatever the provider still hands out: the
 * backstop for a provider that pages in a loop the checks below do not see (a cursor that
 * comes back after another one). It must not cut a legitimate window short:
 * - X serves the newest 3,200 tweets at most; at the smallest page X accepts (5) that is 640
 *   full pages, and X can answer short or empty pages: 1,000.
 * - agntdata documents no depth. A backfill stops at its depth (at most 3,200 tweets, at least
 *   one per non-empty page): its cap is raised to the depth plus 100 when that is higher, so
 *   even 1-result pages finish it. An incremental window of 1,000 pages is 20,000 results at
 *   the default page size of 20 (10 $ of requests), far deeper than anything a scheduled
 *   interval brings.
 * A window ended by the cap records a `window_page_cap` gap and logs an error.
 */
export const MAX_WINDOW_PAGES: Readonly<Record<ProviderName, number>> = {
  x: 1000,
  agntdata: 1000,
};

/**
 * The daily budget stopped an incremental agntdata window part-way: it is read again from the
 * top by the next day's run while the pages it read cost less than this share of the daily
 * budget. A window that took more would take most of the next day's budget just to get back
 * where it stopped (and, above the whole budget, never get further): it is completed with a
 * `budget` gap instead (see stopWindowOnBudget).
 */
export const REREAD_BUDGET_SHARE = 0.5;

/** Why a window ended before its list did (the crawl_gaps reason when it listed something). */
type CutShort = 'empty_pages' | 'cursor_repeated' | 'window_page_cap';

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
  /**
   * agntdata only: once today's (UTC) spend has reached this, no page of any run is fetched —
   * the run is closed with the reason. Checked before every page, so runs already under way
   * stop too, mid-window, not only new ones (the scheduler starts none meanwhile). A window so
   * stopped cannot keep its cursor (it would expire before the next day's budget): an
   * incremental one is read again from the top by the next run, a backfill (or an incremental
   * window too deep to read again) is completed with what it read and the rest recorded as a
   * `budget` gap (see stopWindowOnBudget).
   */
  dailyBudgetCents?: number | undefined;
  /** @defaultValue MAX_WINDOW_PAGES of the provider (raised for a deep backfill, see there) */
  maxWindowPages?: number | undefined;
}

/**
 * What happened:
 * - `page`: a page was written; the window goes on (`next: 'page'`).
 * - `window_completed`: the last page of the window was written; since_id moved.
 * - `cursor_expired`: the provider rejected the saved cursor. On X, a window that has listed
 *   tweets goes on strictly below the oldest of them (`until_id`); otherwise (agntdata, or
 *   nothing listed yet) the window restarts from since_id. Also when X answers a request
 *   bounded by that until_id with another 400: the window restarts from since_id.
 * - `unavailable`: the account cannot be read; the target is marked and the run closed.
 * - `inactive`: the target is disabled or marked; the run was cancelled without a request.
 * - `budget_reached`: the day's agntdata budget is spent; the run was cancelled without a request,
 *   and a window it stopped part-way was reset (incremental: read again by the next run) or
 *   completed with a `budget` gap (a backfill, or a window too deep to read again).
 * - `stale`: another execution of this step already moved the checkpoint (or closed the run);
 *   nothing was written by this one.
 */
export type CrawlStepOutcome =
  | 'page'
  | 'window_completed'
  | 'cursor_expired'
  | 'unavailable'
  | 'inactive'
  | 'budget_reached'
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
  /**
   * Set when this step gave the window up on empty pages before it listed a tweet (the run
   * still succeeds, with the reason in crawl_runs.error): how many windows in a row have now
   * ended so, and the reason the target was marked 'failing' with when this one made it so.
   */
  emptyGiveUp: { inARow: number; failing: string | null } | null;
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
  // One read for the target, its checkpoint and the run (three lookups, one round trip).
  const state = await readCrawlStepState(db, key, options.runId ?? null);
  const target = state.target;
  if (target === null) throw new TargetNotFoundError(key);
  const resolved = await resolveRun(db, key, options.runId ?? null, state);
  // The checkpoint as stored: the version every transition below compares against.
  let checkpoint = resolved.checkpoint;
  if (resolved.stale) return idle(key, resolved.run, checkpoint, 'stale');
  const run = resolved.run;

  if (!target.enabled || target.state !== 'active') {
    const why = target.enabled ? `target is ${target.state}` : 'target is disabled';
    await finishRun(db, run.id, 'cancelled', why);
    logger.info({ ...key, runId: run.id, why }, 'crawl: target inactive, run cancelled');
    return { ...idle(key, run, checkpoint, 'inactive'), runOutcome: 'cancelled' };
  }

  const budget = options.dailyBudgetCents;
  let reserved: SpendReservation | null = null;
  if (key.provider === 'agntdata' && budget !== undefined) {
    // The request's cent is taken from the budget before it is made (see reserveSpend).
    reserved = await reserveSpend(db, {
      provider: key.provider,
      day: spendDay(now()),
      cents: AGNTDATA_DEFAULT_COST_CENTS,
      budgetCents: budget,
    });
    if (reserved === null) {
      const spent = await spentToday(db, key.provider, now());
      const why = `daily budget reached (${spent.costCents}¢ spent today of ${budget}¢, AGNTDATA_DAILY_BUDGET_CENTS)`;
      const stopped = await stopWindowOnBudget(db, key, run, checkpoint, budget, why, now);
      if (stopped.stale) {
        logger.warn(
          { ...key, runId: run.id, why },
          'crawl: daily budget reached, but the checkpoint moved meanwhile; nothing written',
        );
        return staleStep(key, run, stopped.checkpoint);
      }
      logger.warn(
        { ...key, runId: run.id, why: stopped.why, gap: stopped.gap },
        'crawl: daily budget reached, run cancelled',
      );
      return {
        ...idle(key, run, stopped.checkpoint, 'budget_reached'),
        gap: stopped.gap,
        runOutcome: 'cancelled',
      };
    }
  }

  // Step 1 (open the window) is written with the window's first page, by the same
  // compare-and-set: a request that fails leaves the checkpoint as it was, which is what
  // opening the window and resuming it from no cursor would have done. Milliseconds only, so
  // later compare-and-sets match the stored timestamp exactly.
  const opensWindowAt = checkpoint.windowStartedAt === null ? new Date(now().getTime()) : null;
  if (opensWindowAt === null && checkpoint.runId !== run.id) {
    await attachRun(db, key, run.id);
    checkpoint = { ...checkpoint, runId: run.id };
  }
  // The window this page belongs to: a fresh one when this page opens it.
  const current: CrawlCheckpoint =
    opensWindowAt === null
      ? checkpoint
      : {
          ...checkpoint,
          windowNewestId: null,
          cursor: null,
          windowPages: 0,
          windowFetched: 0,
          windowAuthorTweets: null,
          windowOldestId: null,
          windowEmptyPages: 0,
          windowUntilId: null,
          windowStartedAt: opensWindowAt,
          runId: run.id,
        };

  // A backfill until the first window completes, not while since_id is NULL: a first window
  // that found nothing (an account yet to post, or to post media) leaves it NULL, and capping
  // the next windows at the backfill depth would lose what the account posted meanwhile.
  const kind: CrawlKind =
    current.backfillDone || current.sinceId !== null ? 'incremental' : 'backfill';
  const request = buildRequest(target, current, kind, options);
  const failed: FetchErrorContext = {
    db,
    key,
    run,
    kind,
    checkpoint,
    request,
    now,
    logger,
    reserved,
  };

  let fetched: Awaited<ReturnType<CrawlClient['fetchTimelinePage']>>;
  try {
    fetched = await client.fetchTimelinePage(request);
  } catch (error) {
    return handleFetchError(error, failed);
  }

  const page = fetched.page;
  const ids = timelineIds(page);
  const bound = key.provider === 'x' ? current.windowUntilId : null;
  if (bound !== null) {
    // The part below until_id is trusted only while X honours the bound and lists tweets.
    // X forces a bound that left its newest 3,200 to its newest tweet: this page is then a second
    // range, apart from the one read, and the hole between them would go unread and unrecorded.
    // A page listing nothing that ends the list is the list's end or the floor of the newest
    // 3,200 (the account posted meanwhile), and it names no author whose count tells which.
    // Either way the window restarts from its top, as it did before the bound: the cap rule
    // then sees the whole window and records its gap.
    const ignored = ids.some((id) => compareIds(id, bound) >= 0);
    if (ignored || (ids.length === 0 && page.cursor.next === null)) {
      return restartWindow(failed, null, {
        fields: { untilId: bound },
        message: ignored
          ? 'crawl: X listed tweets at or above until_id (it forces a bound past its newest 3,200 to the top): restarting the window from since_id'
          : 'crawl: the part below until_id ended listing nothing (its end, or the floor of the newest 3,200): restarting the window from since_id',
        rateLimit: fetched.rateLimit,
        pageSpend: { day: spendDay(now()), cents: fetched.costCents },
      });
    }
  }
  const newest = page.newestId ?? maxId(ids);
  const oldest = page.oldestId ?? minId(ids);
  const sinceId = current.sinceId;
  const windowNewestId = maxOf(current.windowNewestId, newest);
  const windowFetched = current.windowFetched + ids.length;
  // agntdata has no since_id parameter: the page that reaches it is the window's last (X never
  // returns such ids when asked with since_id, so for X this stays false). Reached = the page's
  // LAST result is at or below since_id: one old item listed before newer ones (a pinned
  // tweet) must not end the window and lose the newer tweets on the pages after it.
  const last = page.lastId === undefined ? oldest : page.lastId;
  const reachedSinceId = sinceId !== null && last !== null && compareIds(last, sinceId) <= 0;
  const depthReached = kind === 'backfill' && windowFetched >= target.backfillDepth;
  const nextCursor = page.cursor.next;
  // A page with no results but a next token (X does this) does not end the window, unless it
  // is the EMPTY_PAGES_BEFORE_END-th such page in a row (agntdata bills each one). An empty
  // page mid-list and the end of a list that still hands out a token look the same: a few
  // are followed, then the window ends with an empty_pages gap rather than a silent loss.
  const emptyPages = ids.length === 0 && nextCursor !== null ? current.windowEmptyPages + 1 : 0;
  const stuck = emptyPages >= EMPTY_PAGES_BEFORE_END[key.provider];
  // A page of results whose next token is the one it was asked with: asking again serves the
  // same page for ever (each one billed on agntdata, each one off X's shared rate limit). An
  // empty page with the same token is left to the empty-pages rule above: a few are asked again.
  const repeated = ids.length > 0 && nextCursor !== null && nextCursor === current.cursor;
  const pageCapHit =
    nextCursor !== null && current.windowPages + 1 >= windowPageCap(target, kind, options);
  const cutShort: CutShort | null = stuck
    ? 'empty_pages'
    : repeated
      ? 'cursor_repeated'
      : pageCapHit
        ? 'window_page_cap'
        : null;
  const exhausted = nextCursor === null || cutShort !== null;
  const windowEnds = exhausted || reachedSinceId || depthReached;
  const pageOldest = listedOldest(ids);
  const windowOldest = minOf(current.windowOldestId, pageOldest);

  const authorTweets = key.provider === 'x' ? authorTweetCount(page, key.userId) : null;
  // Given up on empty pages with nothing listed: no gap can be said (no id bounds it) and nothing
  // moves, so the next run buys the same pages again; counted across runs instead (see
  // EMPTY_GIVEUPS_BEFORE_FAILING).
  const gaveUpEmpty = cutShort === 'empty_pages' && windowNewestId === null;
  let gap: CrawlGapFound | null = null;
  if (cutShort !== null && !reachedSinceId && !depthReached) {
    // Given up on the list (a backfill too): the tweets below the last page read may still
    // exist. since_id moves to the window's newest as for any window that ends, and the gap
    // names what was not read: strictly between since_id and the smallest id listed. Not when
    // the window listed nothing: since_id does not move then, and the next run asks again.
    if (windowNewestId !== null) gap = { sinceId, oldestId: windowOldest, reason: cutShort };
  } else if (kind === 'incremental' && exhausted && !reachedSinceId) {
    // X serves the newest 3,200 as of each request: every tweet posted while the window was
    // read raised the floor by one, so the window fetched that many fewer than the cap.
    const firstCount = current.windowAuthorTweets ?? authorTweets;
    const postedMeanwhile =
      firstCount !== null && authorTweets !== null ? Math.max(0, authorTweets - firstCount) : 0;
    // agntdata ran out of pages above since_id (not a gap when there is nothing to reach: a
    // window without since_id read the whole list). A pinned since_id listed first proves
    // nothing (see listedOldest): a list cut short and a short list look the same, and a gap
    // that may be false is better than a loss that is hidden.
    const capHit =
      key.provider === 'x'
        ? windowFetched + postedMeanwhile >= (options.timelineCap ?? X_TIMELINE_CAP)
        : sinceId !== null && windowFetched > 0;
    if (capHit) {
      gap = {
        sinceId,
        // The smallest id the window listed (its last page may be empty); NULL only for a
        // window opened before the checkpoint kept it (migration 0004).
        oldestId: windowOldest,
        reason: key.provider === 'x' ? 'x_timeline_cap' : 'agntdata_exhausted',
      };
    }
  }
  const newSinceId = maxOf(sinceId, windowNewestId);
  const at = now();
  // A reserved cent is already in the spend of its day: only the difference is added.
  const spend = {
    day: reserved?.day ?? spendDay(at),
    cents: fetched.costCents - (reserved?.cents ?? 0),
  };

  let after: CrawlCheckpoint | null = null;
  let emptyGiveUp: CrawlStepResult['emptyGiveUp'] = null;
  let counts = { tweetsNew: 0, tweetsUpdated: 0 };
  try {
    const result = await upsertPage(db, page, {
      raw: {
        body: fetched.rawBody,
        requestUrl: fetched.requestUrl,
        status: fetched.status,
        runId: run.id,
      },
      // Steps 2/3, the run's counters (with this page's new and updated tweets), the spend,
      // the gap: one statement, in the page's transaction.
      inTransaction: async (tx, written) => {
        after = await commitPageTransition(tx, {
          ...key,
          version: checkpoint,
          runId: run.id,
          opensWindowAt,
          move: windowEnds
            ? // A backfill given up on empty pages before it listed anything is not done: the
              // next run backfills again (to the depth), not an incremental window over the
              // whole timeline. One that listed tweets is done, its gap recorded.
              {
                kind: 'complete',
                sinceId: newSinceId,
                backfillDone: kind === 'backfill' && (cutShort === null || newSinceId !== null),
                gaveUpEmpty,
              }
            : {
                kind: 'progress',
                cursor: nextCursor as string,
                windowNewestId,
                fetched: ids.length,
                authorTweets,
                oldestId: pageOldest,
                emptyPages,
              },
          progress: {
            pages: 1,
            requests: 1,
            tweetsNew: written.tweetsNew,
            tweetsUpdated: written.tweetsUpdated,
            costCents: fetched.costCents,
          },
          spend: { ...spend, requests: 1 },
          gap,
        });
        if (after === null) throw new StaleCheckpointError('the checkpoint moved during the page');
        if (gaveUpEmpty) {
          emptyGiveUp = await recordEmptyGiveUp(tx, key, run.id, kind, after.emptyGiveUps);
        }
      },
    });
    counts = { tweetsNew: result.tweetsNew, tweetsUpdated: result.tweetsUpdated };
  } catch (error) {
    if (error instanceof StaleCheckpointError) {
      await countDroppedRequest(db, key, run.id, fetched.costCents, spend);
      logger.warn({ ...key, runId: run.id }, 'crawl: checkpoint moved meanwhile; page dropped');
      return {
        ...staleStep(key, run, (await getCheckpoint(db, key)) ?? checkpoint),
        requests: 1,
        costCents: fetched.costCents,
      };
    }
    if (cannotBeStored(error)) {
      // The body passed the schema but holds a value no column can take (a fractional box, a
      // width past 2^31): like an invalid body, it is kept with the reason and the job fails
      // — retrying would fetch (and pay for) the same page again.
      const invalid = new InvalidResponseError(
        key.provider,
        `the page cannot be stored: ${describeError(error).message}`,
        {
          status: fetched.status,
          path: error instanceof InvalidPageError ? error.path : '$',
          rawBody: fetched.rawBody,
          cause: error,
        },
      );
      invalid.costCents = fetched.costCents;
      // The page's window, as a page written would have said it: the worker holds on it.
      invalid.rateLimit = fetched.rateLimit;
      Object.assign(invalid, { requestUrl: fetched.requestUrl });
      return handleFetchError(invalid, failed);
    }
    // Any other failure to write (a deadlock, a timeout, a lost connection) is retried, and the
    // retry fetches the page again: this request still counts, or the budget would miss it.
    await countDroppedRequest(db, key, run.id, fetched.costCents, spend).catch(
      (countError: unknown) => {
        logger.warn(
          { ...key, runId: run.id, error: describeError(countError).message },
          'crawl: could not count a request whose page was not written',
        );
      },
    );
    throw error;
  }
  const saved = after as CrawlCheckpoint | null;
  const endedEarly =
    (cutShort === 'cursor_repeated' || cutShort === 'window_page_cap') &&
    !reachedSinceId &&
    !depthReached;
  if (endedEarly) {
    // Not a provider's ordinary limit: a bug on its side (or a cap too low), said loudly.
    const why =
      cutShort === 'cursor_repeated'
        ? `the provider answered page ${current.windowPages + 1} of the window with the cursor it was asked with (${nextCursor}); following it would buy the same page for ever`
        : `the window reached ${current.windowPages + 1} pages (the cap for a ${kind} window on ${key.provider}) and the provider still handed out a next cursor`;
    logger.error(
      { ...key, runId: run.id, kind, windowPages: current.windowPages + 1, gap, why },
      gap === null
        ? 'crawl: window ended early; it listed nothing, the next run asks again'
        : 'crawl: window ended early; the part not read is recorded as a gap',
    );
  } else if (gap !== null) {
    logger.warn({ ...key, runId: run.id, gap }, 'crawl: the provider can no longer serve a gap');
  }
  const gaveUp = emptyGiveUp as CrawlStepResult['emptyGiveUp'];
  if (gaveUp !== null) {
    logger.warn(
      {
        ...key,
        runId: run.id,
        kind,
        emptyPages,
        inARow: gaveUp.inARow,
        failingAt: EMPTY_GIVEUPS_BEFORE_FAILING,
      },
      'crawl: window given up on empty pages before it listed any tweet; nothing moved, the next run asks again',
    );
    if (gaveUp.failing !== null) {
      logger.error(
        { ...key, runId: run.id, why: gaveUp.failing },
        'crawl: target marked failing; it is not crawled again until re-enabled',
      );
    }
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
    emptyGiveUp: gaveUp,
    rateLimit: fetched.rateLimit,
    runOutcome: windowEnds ? 'succeeded' : null,
  };
}

/**
 * Opens the run of a target, or returns the one still in progress. The scheduler calls this
 * before enqueuing a first page, so every job of the run carries its id.
 */
export async function openRun(db: BirdfeedExecutor, key: TargetKey): Promise<CrawlRun> {
  return openOrAdoptRun(db, key);
}

/**
 * The day's budget stopped a window part-way. Its cursor cannot wait for the next budget: the
 * next run is the next UTC day, and agntdata's continuation tokens do not live that long (the
 * sandbox's: 30 minutes; agntdata documents none, nor a max_id to resume below a tweet).
 *
 * - An incremental window is reset (since_id kept, cursor dropped): the next day's run reads it
 *   again from the top, buying its pages again, and reaches what was not read — agntdata still
 *   serves it, and a gap would lose it for good. Once: the window keeps its start, and stopped
 *   again on a later budget day it is completed as a backfill is (windows sharing the budget
 *   can each be stopped every day, buying the same top pages for ever). Nor when it has read so
 *   many pages that reading them again would not fit in a day's budget (REREAD_BUDGET_SHARE).
 * - A backfill window (or an incremental one too deep to read again) is completed with what was
 *   read, as when it is cut short otherwise (cutShort): since_id moves to the newest tweet read
 *   (a backfill is done at the depth read so far) and what was not read, strictly between the
 *   old since_id and the smallest id listed, is a `budget` gap that `birdfeed status` shows.
 *   Without it a backfill deeper than one day's budget would never finish.
 * - A window that listed nothing (empty pages only) is dropped: the next run starts it again.
 *
 * The run is cancelled only together with the checkpoint's compare-and-set: when another
 * execution of the step moved the checkpoint first, nothing is written and the step is stale.
 */
async function stopWindowOnBudget(
  db: BirdfeedDb,
  key: TargetKey,
  run: CrawlRun,
  checkpoint: CrawlCheckpoint,
  budgetCents: number,
  why: string,
  now: () => Date,
): Promise<
  | { stale: false; checkpoint: CrawlCheckpoint; gap: CrawlGapFound | null; why: string }
  | { stale: true; checkpoint: CrawlCheckpoint }
> {
  // No window under way (or one restarted, with no cursor to lose): it starts in a later run.
  const underWay = checkpoint.cursor !== null && checkpoint.windowStartedAt !== null;
  const listed = underWay && checkpoint.windowNewestId !== null;
  const backfill = !checkpoint.backfillDone && checkpoint.sinceId === null;
  const pages = `${checkpoint.windowPages} ${checkpoint.windowPages === 1 ? 'page' : 'pages'}`;
  // A window read again keeps its start: one that began on an earlier budget day has had its
  // re-read (windows sharing a budget can each be stopped below the share every day, and would
  // otherwise buy the same top pages daily, for ever).
  const readBefore =
    checkpoint.windowStartedAt !== null && spendDay(checkpoint.windowStartedAt) !== spendDay(now());
  const readAgain =
    !backfill &&
    !readBefore &&
    checkpoint.windowPages * AGNTDATA_DEFAULT_COST_CENTS < budgetCents * REREAD_BUDGET_SHARE;
  const completes = listed && !readAgain;
  const gap: CrawlGapFound | null = completes
    ? { sinceId: checkpoint.sinceId, oldestId: checkpoint.windowOldestId, reason: 'budget' }
    : null;
  let stoppedWhy: string;
  if (!underWay) {
    stoppedWhy = why;
  } else if (!listed) {
    stoppedWhy = `${why}; the window had listed nothing yet and starts again in a later run`;
  } else if (readAgain) {
    stoppedWhy = `${why}; the window was stopped after ${pages} (its cursor would expire before the next budget): since_id is unchanged and the next run reads it again from the top, once`;
  } else {
    const notAgain = backfill
      ? ''
      : readBefore
        ? ', and it was already read again on a later day'
        : ", and reading it again would take too much of a day's budget";
    stoppedWhy = `${why}; the window was ended after ${pages} (its cursor would expire before the next budget${notAgain}): since_id moved to the newest tweet read${backfill ? ', the backfill is done at that depth' : ''}, what was not read is a 'budget' gap`;
  }
  let after: CrawlCheckpoint;
  try {
    after = await db.transaction(async (tx) => {
      // Cancelled first (the transition below keeps a run's first outcome), and rolled back
      // with it when the compare-and-set finds the checkpoint moved (with no window under way
      // too: a duplicate execution may have opened one for this run meanwhile).
      await finishRun(tx, run.id, 'cancelled', stoppedWhy);
      const moved = !completes
        ? await resetWindow(tx, key, checkpoint, {
            startedAt: readAgain && listed ? checkpoint.windowStartedAt : null,
          })
        : await commitPageTransition(tx, {
            ...key,
            version: checkpoint,
            runId: run.id,
            opensWindowAt: null,
            move: {
              kind: 'complete',
              sinceId: maxOf(checkpoint.sinceId, checkpoint.windowNewestId),
              backfillDone: backfill,
            },
            progress: { pages: 0, requests: 0, tweetsNew: 0, tweetsUpdated: 0, costCents: 0 },
            spend: { day: spendDay(now()), cents: 0, requests: 0 },
            gap,
          });
      if (moved === null) throw new StaleCheckpointError('the checkpoint moved meanwhile');
      return moved;
    });
  } catch (error) {
    if (!(error instanceof StaleCheckpointError)) throw error;
    // Another execution moved the checkpoint meanwhile: its window is its own, the run goes on.
    return { stale: true, checkpoint: (await getCheckpoint(db, key)) ?? checkpoint };
  }
  return { stale: false, checkpoint: after, gap, why: stoppedWhy };
}

async function resolveRun(
  db: BirdfeedDb,
  key: TargetKey,
  runId: string | null,
  state: CrawlStepState,
): Promise<{ run: CrawlRun; checkpoint: CrawlCheckpoint; stale: boolean }> {
  if (runId === null) {
    const run = await openRun(db, key);
    return { run, checkpoint: await ensureCheckpoint(db, key), stale: false };
  }
  const checkpoint = state.checkpoint ?? (await ensureCheckpoint(db, key));
  const run = state.run;
  if (run === null) {
    throw new RunMismatchError(
      `crawl run ${runId} does not exist in this database (a job from another birdfeed on the same Redis prefix?)`,
    );
  }
  if (run.provider !== key.provider || run.userId !== key.userId) {
    throw new RunMismatchError(
      `crawl run ${runId} belongs to ${run.provider}:${run.userId}, not ${key.provider}:${key.userId} (a job from another birdfeed on the same Redis prefix?)`,
    );
  }
  // A page job of a run that already ended (a duplicate delivered after a stall): starting a
  // new window under a closed run would be a second run nobody scheduled.
  if (run.outcome !== 'running') return { run, checkpoint, stale: true };
  return { run, checkpoint, stale: false };
}

/** MAX_WINDOW_PAGES, raised for a backfill deeper than it (one result per page must finish). */
function windowPageCap(target: WatchTarget, kind: CrawlKind, options: CrawlPageOptions): number {
  const cap = options.maxWindowPages ?? MAX_WINDOW_PAGES[target.provider];
  return kind === 'backfill' ? Math.max(cap, target.backfillDepth + 100) : cap;
}

function buildRequest(
  target: WatchTarget,
  checkpoint: CrawlCheckpoint,
  kind: CrawlKind,
  options: CrawlPageOptions,
): TimelinePageRequest {
  const request: TimelinePageRequest = { userId: target.userId, cursor: checkpoint.cursor };
  // X: since_id on EVERY page of the window, with the saved pagination token. agntdata has no
  // since_id: the step stops itself at the page that reaches it. The until_id of a window that
  // went on below its oldest tweet after an expired cursor is on every page after it too, as
  // X wants a pagination token asked with the query that made it.
  if (target.provider === 'x' && checkpoint.sinceId !== null) request.sinceId = checkpoint.sinceId;
  if (target.provider === 'x' && checkpoint.windowUntilId !== null) {
    request.untilId = checkpoint.windowUntilId;
  }
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
  /** The budget's cent taken for this request, if any: settled or given back here. */
  reserved: SpendReservation | null;
}

/**
 * The window goes on below `below` (X's until_id), or from its top when `below` is null: its
 * cursor is dropped, since_id kept, and the request that led here counted in the run.
 */
async function restartWindow(
  ctx: FetchErrorContext,
  below: string | null,
  said: {
    fields: Record<string, unknown>;
    message: string;
    rateLimit: RateLimitInfo | null;
    /** Set when a page that came (a 200) led here: it counts in the day's spend as a page does. */
    pageSpend?: { day: string; cents: number } | undefined;
  },
): Promise<CrawlStepResult> {
  const { db, key, run, checkpoint, logger } = ctx;
  const restarted = await db.transaction(async (tx) => {
    const reset =
      below !== null
        ? await resumeWindowBelow(tx, key, checkpoint, below)
        : await resetWindow(tx, key, checkpoint, { startedAt: new Date(ctx.now().getTime()) });
    if (reset !== null) {
      await addRunProgress(tx, run.id, { requests: 1 });
      if (said.pageSpend !== undefined) {
        await addSpend(tx, { provider: key.provider, ...said.pageSpend, requests: 1 });
      }
    }
    return reset;
  });
  if (restarted === null) {
    // Another execution of this step moved the window first: this one's page still happened.
    if (said.pageSpend !== undefined) {
      await countDroppedRequest(db, key, run.id, said.pageSpend.cents, said.pageSpend);
    }
    logger.warn(
      { ...key, runId: run.id, ...said.fields },
      'crawl: checkpoint moved meanwhile; the window was not restarted here',
    );
    return {
      ...staleStep(key, run, (await getCheckpoint(db, key)) ?? checkpoint),
      requests: said.pageSpend === undefined ? 0 : 1,
    };
  }
  logger.warn(
    { ...key, runId: run.id, windowPages: checkpoint.windowPages, ...said.fields },
    said.message,
  );
  return {
    ...idle(key, run, restarted, 'cursor_expired'),
    next: 'page',
    requests: 1,
    rateLimit: said.rateLimit,
  };
}

async function handleFetchError(error: unknown, ctx: FetchErrorContext): Promise<CrawlStepResult> {
  const { db, key, run, checkpoint, logger, reserved } = ctx;
  // agntdata bills every 2xx: one whose body then broke off (a reset, a body timeout, an
  // abort) was bought although no page came of it. Only the HTTP exchange says so (bodyCut):
  // a 200 whose `{success:false}` envelope the client turned into an error is not charged.
  const billedCents =
    key.provider === 'agntdata' && bodyCutAfter2xx(error)
      ? (reserved?.cents ?? AGNTDATA_DEFAULT_COST_CENTS)
      : 0;
  if (reserved !== null && !(error instanceof InvalidResponseError) && billedCents === 0) {
    // Rejected, rate-limited, failed or aborted requests are not billed: the cent goes back.
    await addSpend(db, { ...reserved, cents: -reserved.cents, requests: 0 }).catch(
      (refundError: unknown) => {
        logger.warn(
          { ...key, runId: run.id, error: describeError(refundError).message },
          'crawl: could not give back the budget reserved for a request that was not billed',
        );
      },
    );
  }
  // A 400 for a request that carried the window's until_id may be X refusing the bound itself
  // (it is ours, not X's cursor): kept, it would fail every run of the target the same way.
  // The window restarts from since_id without it, as it did before the bound existed.
  const refusedBound =
    error instanceof BadRequestError &&
    error.status === 400 &&
    key.provider === 'x' &&
    checkpoint.windowUntilId !== null;
  if ((error instanceof InvalidCursorError && checkpoint.cursor !== null) || refusedBound) {
    // X takes until_id: a window that listed tweets goes on strictly below the oldest of them
    // rather than from its top, which would ask (and spend the rate limit) for every page it
    // read again (see resumeWindowBelow). agntdata has no such bound, and a window that listed
    // nothing has no id to go below: they restart from since_id, the pages re-read are upserts.
    // Should the account post so much meanwhile that this id, or what lies below it, leaves X's
    // newest 3,200, the page path sees it and restarts the window from its top (see `bound`).
    const below = key.provider === 'x' && !refusedBound ? checkpoint.windowOldestId : null;
    return restartWindow(ctx, below, {
      fields: {
        untilId: refusedBound ? checkpoint.windowUntilId : below,
        ...(refusedBound ? { error: describeError(error).message } : {}),
      },
      message: refusedBound
        ? 'crawl: X refused the request bounded by until_id (400), restarting the window from since_id'
        : below !== null
          ? 'crawl: cursor expired, the window goes on below the oldest tweet it read (until_id)'
          : 'crawl: cursor expired, restarting the window from since_id',
      rateLimit: null,
    });
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
    const problem = `${described.message} (at ${error.path})`;
    // A body is validated only once the provider answered 2xx; the clients leave 200 unsaid.
    const status = error.status ?? 200;
    const { failureId, failing } = await db.transaction(async (tx) => {
      const rawPageId = await recordRawPage(tx, {
        ...key,
        runId: run.id,
        requestUrl: requestUrlOf(error, ctx.request, key.provider),
        status,
        body: error.rawBody,
        error: problem,
      });
      await addRunProgress(tx, run.id, { requests: 1, costCents: error.costCents });
      // A body that fails our schema may still have been billed (agntdata): the budget counts it.
      const settle = error.costCents - (reserved?.cents ?? 0);
      if (error.costCents > 0 || settle !== 0) {
        await addSpend(tx, {
          provider: key.provider,
          day: reserved?.day ?? spendDay(ctx.now()),
          cents: settle,
          requests: error.costCents > 0 ? 1 : 0,
        });
      }
      const { failing } = await countBadBody(
        tx,
        key,
        checkpoint,
        (streak) =>
          `the same page came back invalid ${streak} times in a row (raw_pages ${rawPageId}: ${problem}); fix the schema or normalizer, then: birdfeed watchlist enable ${key.userId} --provider ${key.provider}`,
      );
      const failureId = await recordFailure(tx, {
        ...key,
        runId: run.id,
        errorName: described.name,
        errorMessage: failing === null ? problem : `${problem}; target marked failing: ${failing}`,
        status,
        rawPageId,
      });
      return { failureId, failing };
    });
    markFailureRecorded(error, failureId);
    logger.error(
      { ...key, runId: run.id, path: error.path, failureId },
      'crawl: invalid response body kept in raw_pages',
    );
    if (failing !== null) {
      logger.error(
        { ...key, runId: run.id, failureId, why: failing },
        'crawl: target marked failing; it is not crawled again until re-enabled',
      );
    }
  }
  // Rate limits, 5xx, 401/403, aborts: the transport decides. The request still counts in the
  // run (it was made), outside any page transaction since no page was written.
  if (!(error instanceof InvalidResponseError)) {
    const counted = async () => {
      await addRunProgress(db, run.id, { requests: 1, costCents: billedCents });
      if (billedCents > 0) {
        // A reserved cent is in the spend already; the request is not.
        await addSpend(db, {
          provider: key.provider,
          day: reserved?.day ?? spendDay(ctx.now()),
          cents: reserved === null ? billedCents : 0,
          requests: 1,
        });
      }
    };
    await counted().catch((counterError: unknown) => {
      logger.warn(
        { ...key, runId: run.id, error: describeError(counterError).message },
        'crawl: could not count a failed request in its run',
      );
    });
    if (billedCents > 0) throw await billedFailure(error, ctx);
  }
  throw error;
}

/**
 * A billed request whose body broke off counts in the same streak as an invalid body (same
 * window position, across runs): the first is retried as the transient it may be, a second in
 * a row is not retried in this run (BilledPageFailedError), and the
 * INVALID_PAGES_BEFORE_FAILING-th marks the target 'failing'. Returns the error to throw.
 */
async function billedFailure(error: unknown, ctx: FetchErrorContext): Promise<unknown> {
  const { db, key, run, checkpoint, logger } = ctx;
  const described = describeError(error);
  let counted: BadBodyCount;
  try {
    counted = await db.transaction((tx) =>
      countBadBody(
        tx,
        key,
        checkpoint,
        (streak) =>
          `a billed page (${described.status ?? '2xx'}) at the same position broke off ${streak} times in a row (${described.message}); it is not bought again until: birdfeed watchlist enable ${key.userId} --provider ${key.provider}`,
      ),
    );
  } catch (countError) {
    logger.warn(
      { ...key, runId: run.id, error: describeError(countError).message },
      'crawl: could not count a billed request whose body broke off',
    );
    return error;
  }
  const { streak, failing } = counted;
  if (failing !== null) {
    logger.error(
      { ...key, runId: run.id, why: failing },
      'crawl: target marked failing; it is not crawled again until re-enabled',
    );
  }
  if (streak === null || streak < 2) return error;
  return new BilledPageFailedError(
    `${described.message} (billed; the page at this position broke off ${streak} times in a row${failing === null ? ', not retried in this run' : ', target marked failing'})`,
    { cause: error, status: described.status },
  );
}

interface BadBodyCount {
  /** Bad bodies in a row at this position; null when the checkpoint moved meanwhile. */
  streak: number | null;
  /** The reason the target was marked 'failing' with, when this one made it so. */
  failing: string | null;
}

/**
 * One more bad body (invalid, or billed and broken off) at the checkpoint's window position;
 * the INVALID_PAGES_BEFORE_FAILING-th in a row marks the target 'failing' with `reason(streak)`.
 */
async function countBadBody(
  tx: BirdfeedExecutor,
  key: TargetKey,
  checkpoint: CrawlCheckpoint,
  reason: (streak: number) => string,
): Promise<BadBodyCount> {
  const streak = await countInvalidPage(tx, key, checkpoint);
  if (streak === null || streak < INVALID_PAGES_BEFORE_FAILING) return { streak, failing: null };
  const failing = reason(streak);
  await markTargetUnavailable(tx, key, 'failing', failing.slice(0, 1000));
  return { streak, failing };
}

/**
 * A window was given up on empty pages before it listed a tweet, `inARow` such windows in a row
 * now (the checkpoint's empty_giveups after the transition): the run, which succeeds, says so
 * in its `error`, and the EMPTY_GIVEUPS_BEFORE_FAILING-th marks the target 'failing', as the
 * bad-body streak does (see countBadBody). In the page's transaction.
 */
async function recordEmptyGiveUp(
  tx: BirdfeedExecutor,
  key: TargetKey,
  runId: string,
  kind: CrawlKind,
  inARow: number,
): Promise<{ inARow: number; failing: string | null }> {
  const limit = EMPTY_PAGES_BEFORE_END[key.provider];
  const pages = `${limit} empty pages in a row (each with a next token${key.provider === 'agntdata' ? ', each billed' : ''})`;
  let failing: string | null = null;
  if (inARow >= EMPTY_GIVEUPS_BEFORE_FAILING) {
    failing = `${inARow} runs in a row gave up after ${pages} before listing any tweet; each scheduled run would ask for them again. Check the account, then: birdfeed watchlist enable ${key.userId} --provider ${key.provider}`;
    await markTargetUnavailable(tx, key, 'failing', failing);
  }
  const moved = kind === 'backfill' ? 'the backfill is not done' : 'since_id did not move';
  const next =
    failing === null
      ? ` and the next run asks again (${inARow} such ${inARow === 1 ? 'run' : 'runs'} in a row; at ${EMPTY_GIVEUPS_BEFORE_FAILING} the target is marked failing)`
      : `; ${inARow} such runs in a row: target marked failing, not crawled until: birdfeed watchlist enable ${key.userId} --provider ${key.provider}`;
  await noteSucceededRun(
    tx,
    runId,
    `gave up after ${pages} before any tweet was listed: ${moved}${next}`,
  );
  return { inARow, failing };
}

/** A 2xx whose body then broke off or was cut, as the HTTP exchange marked it (see bodyCut). */
function bodyCutAfter2xx(error: unknown): boolean {
  if (error instanceof InvalidResponseError) return false;
  return (error as { bodyCut?: unknown } | null)?.bodyCut === true;
}

/** The request as a path without host or credential, for a raw page whose body failed. */
function requestUrlOf(error: object, request: TimelinePageRequest, provider: ProviderName): string {
  const carried = (error as { requestUrl?: unknown }).requestUrl;
  if (typeof carried === 'string' && carried !== '') return carried;
  if (provider === 'x') {
    const params = new URLSearchParams();
    if (request.sinceId) params.set('since_id', request.sinceId);
    if (request.untilId) params.set('until_id', request.untilId);
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
    emptyGiveUp: null,
    rateLimit: null,
    runOutcome: null,
  };
}

/**
 * A request whose page was not written (its transaction rolled back) still happened, and on
 * agntdata it was paid for: it counts in the run and in the day's spend the budget is held to.
 */
async function countDroppedRequest(
  db: BirdfeedDb,
  key: TargetKey,
  runId: string,
  costCents: number,
  spend: { day: string; cents: number },
): Promise<void> {
  await db.transaction(async (tx) => {
    await addRunProgress(tx, runId, { requests: 1, costCents });
    await addSpend(tx, { provider: key.provider, ...spend, requests: 1 });
  });
}

/**
 * An error from writing a page that the page itself caused: the row check's, Postgres's data
 * exceptions (SQLSTATE class 22: out of range, invalid text…) or a CHECK constraint's refusal
 * (23514: a value the row check does not know of yet). Retrying cannot fix it.
 */
function cannotBeStored(error: unknown): boolean {
  for (const at of errorChain(error)) {
    if (at instanceof InvalidPageError) return true;
    const code = (at as { code?: unknown }).code;
    if (typeof code === 'string' && (code.startsWith('22') || code === '23514')) return true;
  }
  return false;
}

/**
 * Another execution of this step moved the checkpoint first. If the window it left open still
 * belongs to this run, the run goes on from there: the other execution may be one whose result
 * nobody reads (a job given up at its deadline, whose step still committed), and ending here
 * would leave the run with no job until the scheduler found it orphaned. When both executions
 * are alive, both ask for the same next page, and its job id makes that one job.
 */
function staleStep(key: TargetKey, run: CrawlRun, checkpoint: CrawlCheckpoint): CrawlStepResult {
  const result = idle(key, run, checkpoint, 'stale');
  const windowGoesOn =
    run.outcome === 'running' && checkpoint.runId === run.id && checkpoint.windowStartedAt !== null;
  return windowGoesOn ? { ...result, next: 'page' } : result;
}

/** The timeline owner's tweet_count as this page reports it (X includes the author). */
function authorTweetCount(page: CanonicalPage, userId: string): number | null {
  for (const user of page.users) {
    if (user.id === userId) return user.tweetCount ?? null;
  }
  return null;
}

function timelineIds(page: CanonicalPage): string[] {
  return page.tweets.filter((tweet) => tweet.fromTimeline).map((tweet) => tweet.id);
}

function maxOf(a: string | null, b: string | null): string | null {
  if (a === null) return b;
  if (b === null) return a;
  return compareIds(a, b) >= 0 ? a : b;
}

function minOf(a: string | null, b: string | null): string | null {
  if (a === null) return b;
  if (b === null) return a;
  return compareIds(a, b) <= 0 ? a : b;
}

/**
 * The smallest id a page lists in timeline order. A first result older than the one after it
 * is out of order: a pinned tweet, listed first whatever its age, which says nothing about how
 * deep the list goes — left out.
 */
function listedOldest(ids: string[]): string | null {
  const [first, second] = ids;
  const pinned = first !== undefined && second !== undefined && compareIds(first, second) < 0;
  return minId(pinned ? ids.slice(1) : ids);
}

function maxId(ids: string[]): string | null {
  return ids.reduce<string | null>((best, id) => maxOf(best, id), null);
}

function minId(ids: string[]): string | null {
  return ids.reduce<string | null>((best, id) => minOf(best, id), null);
}
