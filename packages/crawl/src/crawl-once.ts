import {
  claimDueTargets,
  claimTarget,
  countDueTargets,
  databaseNow,
  getCheckpoint,
  getTarget,
  openOrAdoptRun,
  spentToday,
  type TargetKey,
} from '@birdfeed/db';
import { PROVIDER_NAMES, type ProviderName } from '@birdfeed/model';
import { OutOfCreditsError, UnauthorizedError } from '@birdfeed/providers';
import {
  type CrawlToEndOptions,
  crawlTargetToEnd,
  emptySummary,
  type TargetCrawlSummary,
} from './crawl-to-end.ts';
import { describeError } from './errors.ts';
import { formatEvery } from './every.ts';
import { type CrawlLogger, silentLogger } from './logger.ts';
import {
  type LimiterWait,
  limitedClient,
  type RequestBudget,
  RequestLimiter,
  type RequestLimiterOptions,
  type SharedRequestLimiter,
} from './request-limiter.ts';
import type { CrawlClient } from './timeline-client.ts';

/**
 * How long a running run must have been idle before the one-shot takes it over. A worker's live
 * run can sit without a write for as long as a 429 pauses its queue until the reset (X's window
 * is 15 minutes; the one-shot itself sleeps at most 16 for one); a page request in flight leaves
 * no trace at all. Taking over a live run makes both processes fetch, and pay for, every page.
 */
export const BUSY_RUN_WINDOW_MS = 16 * 60_000;

export interface CrawlOnceOptions
  extends Omit<CrawlToEndOptions, 'client' | 'target' | 'onStep' | 'run'> {
  /** A client per provider; a provider without one is reported, not crawled. */
  clients: Partial<Record<ProviderName, CrawlClient>>;
  /** Why a provider has no client (e.g. "X_BEARER_TOKEN is not set"), for the report. */
  missingClientReasons?: Partial<Record<ProviderName, string>> | undefined;
  /** Crawl these targets whether due or not; omitted = every due target. */
  targets?: TargetKey[] | undefined;
  /** Only these providers. @defaultValue both */
  providers?: readonly ProviderName[] | undefined;
  /** No new agntdata run starts once today's spend (UTC) has reached this. */
  agntdataDailyBudgetCents?: number | undefined;
  /** Targets crawled at once per provider. @defaultValue 2 */
  concurrency?: number | undefined;
  /**
   * A target whose running run showed activity within this window is reported as skipped (busy),
   * not taken over; an older running run is an orphan and is adopted.
   * @defaultValue {@link BUSY_RUN_WINDOW_MS}
   */
  busyRunWindowMs?: number | undefined;
  /**
   * The id of the job of the target's run waiting, active or delayed in the workers' queue
   * (Redis), or null when there is none. Given: a target with such a job is left to the workers
   * (a job can wait in the queue far longer than the busy window, and leaves no trace in
   * Postgres while it does), and one this cannot be asked about is not crawled either. Omitted:
   * only Postgres's record of the run's activity is seen.
   */
  queuedJobOf?: ((key: TargetKey) => Promise<string | null>) | undefined;
  onTargetDone?: ((summary: TargetCrawlSummary) => void) | undefined;
  onStep?: CrawlToEndOptions['onStep'];
  /**
   * The user's request budget per provider (X_RATE_LIMIT_MAX / X_RATE_LIMIT_WINDOW_MS,
   * AGNTDATA_RATE_LIMIT_PER_MINUTE): every request of the provider, over all lanes, is taken
   * from an in-process limiter of this size, which also holds until the provider's reset when
   * a response says its window is spent. A provider without one is not limited here.
   */
  rateLimits?: Partial<Record<ProviderName, RequestBudget>> | undefined;
  /** Called when a provider's requests have to wait for the limiter (progress output). */
  onLimiterWait?: ((provider: ProviderName, waitMs: number, why: LimiterWait) => void) | undefined;
  /** The workers' limiter per provider (in Redis): every request is taken from it as well. */
  sharedLimiters?: Partial<Record<ProviderName, SharedRequestLimiter>> | undefined;
}

export interface SkippedTargets {
  provider: ProviderName;
  /** Set when one target was asked for. */
  userId?: string | undefined;
  /** How many due targets were left uncrawled. */
  count: number;
  reason: string;
}

export interface CrawlOnceResult {
  targets: TargetCrawlSummary[];
  skipped: SkippedTargets[];
  /** True when every target crawled succeeded and none was skipped. */
  ok: boolean;
}

/**
 * The one-shot mode: the due targets (or the ones given) each crawled to the end of their
 * window by the same step the workers run, in-process, without Redis.
 */
export async function crawlOnce(given: CrawlOnceOptions): Promise<CrawlOnceResult> {
  const options: CrawlOnceOptions = { ...given, clients: limitedClients(given) };
  const providers = options.providers ?? PROVIDER_NAMES;
  const result: CrawlOnceResult = { targets: [], skipped: [], ok: true };
  const done = (summary: TargetCrawlSummary) => {
    result.targets.push(summary);
    options.onTargetDone?.(summary);
  };
  if (options.targets !== undefined) {
    for (const key of options.targets) {
      if (!providers.includes(key.provider)) continue;
      if (options.signal?.aborted === true) break;
      const summary = await crawlExplicitTarget(options, key, result);
      if (summary !== null) done(summary);
    }
  } else {
    // Round up to the next millisecond: Postgres keeps microseconds, a Date does not, and a
    // target added in the same millisecond must count as due.
    const startedAt = new Date((await databaseNow(options.db)).getTime() + 1);
    await Promise.all(
      providers.map((provider) => crawlDueOfProvider(options, provider, startedAt, result, done)),
    );
  }
  // A run that marked its target failing (its 3rd give-up on empty pages in a row) succeeded,
  // but the target is out of the schedule until someone re-enables it: not ok.
  result.ok =
    result.skipped.length === 0 &&
    result.targets.every(
      (target) => target.outcome === 'succeeded' && (target.emptyGiveUp?.failing ?? null) === null,
    );
  return result;
}

/** Each client behind its provider's limiter, when `rateLimits` gives one. */
function limitedClients(options: CrawlOnceOptions): CrawlOnceOptions['clients'] {
  const clients: CrawlOnceOptions['clients'] = {};
  for (const provider of PROVIDER_NAMES) {
    const client = options.clients[provider];
    if (client === undefined) continue;
    const budget = options.rateLimits?.[provider];
    if (budget === undefined) {
      clients[provider] = client;
      continue;
    }
    const limiterOptions: RequestLimiterOptions = {
      ...budget,
      shared: options.sharedLimiters?.[provider],
      sleep: options.sleep,
      onWait: (waitMs, why) => {
        limiterLog(options.logger ?? silentLogger, provider, budget, waitMs, why);
        options.onLimiterWait?.(provider, waitMs, why);
      },
    };
    if (options.now !== undefined) {
      const now = options.now;
      limiterOptions.now = () => now().getTime();
    }
    clients[provider] = limitedClient(client, new RequestLimiter(limiterOptions));
  }
  return clients;
}

function limiterLog(
  logger: CrawlLogger,
  provider: ProviderName,
  budget: RequestBudget,
  waitMs: number,
  why: LimiterWait,
): void {
  if (why === 'shared') {
    logger.warn(
      { provider, waitMs },
      `crawl: ${provider} requests held by the workers' limiter in Redis (this window used up by them and this process together, or a provider reset one of them was told to wait for), waiting for the next window or that reset`,
    );
  } else if (why === 'budget') {
    logger.warn(
      { provider, waitMs, max: budget.max, windowMs: budget.windowMs },
      `crawl: ${provider} requests of this window used up (${budget.max} per ${formatEvery(budget.windowMs / 1000)}), waiting for the next window`,
    );
  } else {
    logger.warn(
      { provider, waitMs },
      `crawl: ${provider} said its rate-limit window is spent, waiting for its reset`,
    );
  }
}

async function budgetLeft(
  options: CrawlOnceOptions,
  provider: ProviderName,
): Promise<string | null> {
  const budget = options.agntdataDailyBudgetCents;
  if (provider !== 'agntdata' || budget === undefined) return null;
  const spent = await spentToday(options.db, provider, (options.now ?? (() => new Date()))());
  return spent.costCents >= budget
    ? `daily budget reached (${spent.costCents}¢ spent today of ${budget}¢, AGNTDATA_DAILY_BUDGET_CENTS)`
    : null;
}

/**
 * Opens the target's run unless another process is crawling it right now; then it is added to
 * the skipped targets and null is returned.
 */
async function openRunUnlessBusy(
  options: CrawlOnceOptions,
  key: TargetKey,
  result: CrawlOnceResult,
): Promise<CrawlToEndOptions['run'] | null> {
  const window = options.busyRunWindowMs ?? BUSY_RUN_WINDOW_MS;
  const queued = await queuedReason(options, key);
  if (queued !== null) {
    result.skipped.push({ provider: key.provider, userId: key.userId, count: 1, reason: queued });
    return null;
  }
  const opened = await openOrAdoptRun(options.db, key, { busyWithinMs: window });
  if (opened.inUse === null) return opened.run;
  result.skipped.push({
    provider: key.provider,
    userId: key.userId,
    count: 1,
    reason: `busy: run #${opened.inUse.runId} is in progress in another process (a worker or another crawl --once), last active ${formatEvery(opened.inUse.idleMs / 1000)} ago; it is taken over once idle for ${formatEvery(window / 1000)}`,
  });
  return null;
}

/** Why the target is left to the workers (its run is in their queue), or null. */
async function queuedReason(options: CrawlOnceOptions, key: TargetKey): Promise<string | null> {
  if (options.queuedJobOf === undefined) return null;
  try {
    const jobId = await options.queuedJobOf(key);
    return jobId === null
      ? null
      : `a run of this target is queued in Redis (job ${jobId}): left to the workers`;
  } catch (error) {
    return `could not ask Redis whether a run of this target is queued (${describeError(error).message}); not crawled, so that the workers and this process never both fetch it`;
  }
}

async function crawlExplicitTarget(
  options: CrawlOnceOptions,
  key: TargetKey,
  result: CrawlOnceResult,
): Promise<TargetCrawlSummary | null> {
  const fail = async (error: string): Promise<TargetCrawlSummary> => ({
    ...emptySummary(key),
    // Not crawled: the checkpoint stands as it was.
    sinceId: (await getCheckpoint(options.db, key))?.sinceId ?? null,
    error,
    errorName: 'CrawlOnceError',
  });
  const target = await getTarget(options.db, key);
  // The exact command, provider included: `watchlist add` alone would add the account on x.
  const on = `${key.userId} --provider ${key.provider}`;
  if (target === null) {
    return fail(`not on the watchlist (add it with \`birdfeed watchlist add ${on}\`)`);
  }
  if (!target.enabled) return fail(`disabled (enable it with \`birdfeed watchlist enable ${on}\`)`);
  if (target.state !== 'active') {
    return fail(
      `marked ${target.state}${target.stateReason ? ` (${target.stateReason})` : ''}; \`birdfeed watchlist enable ${on}\` retries it`,
    );
  }
  const client = options.clients[key.provider];
  if (client === undefined) {
    return fail(options.missingClientReasons?.[key.provider] ?? `no ${key.provider} client`);
  }
  const overBudget = await budgetLeft(options, key.provider);
  if (overBudget !== null) {
    result.skipped.push({
      provider: key.provider,
      userId: key.userId,
      count: 1,
      reason: overBudget,
    });
    return null;
  }
  const claimed = await claimTarget(options.db, key);
  if (claimed === null) return fail('another process holds this target right now');
  const run = await openRunUnlessBusy(options, key, result);
  if (run === null) return null;
  return crawlTargetToEnd({
    ...options,
    client,
    target: key,
    run,
    dailyBudgetCents: options.agntdataDailyBudgetCents,
  });
}

async function crawlDueOfProvider(
  options: CrawlOnceOptions,
  provider: ProviderName,
  startedAt: Date,
  result: CrawlOnceResult,
  done: (summary: TargetCrawlSummary) => void,
): Promise<void> {
  const logger = options.logger ?? silentLogger;
  const client = options.clients[provider];
  const leftOver = async (reason: string) => {
    const due = (await countDueTargets(options.db, { now: startedAt }))[provider] ?? 0;
    if (due > 0) result.skipped.push({ provider, count: due, reason });
  };
  if (client === undefined) {
    await leftOver(options.missingClientReasons?.[provider] ?? `no ${provider} client`);
    return;
  }
  let stopped: string | null = null;
  const lane = async () => {
    for (;;) {
      if (stopped !== null || options.signal?.aborted === true) return;
      const overBudget = await budgetLeft(options, provider);
      if (overBudget !== null) {
        stopped ??= overBudget;
        return;
      }
      // Claimed as of the start: a target that becomes due while this runs waits for next time,
      // so a short interval cannot keep the one-shot going forever.
      const [target] = await claimDueTargets(options.db, {
        limit: 1,
        providers: [provider],
        now: startedAt,
      });
      if (target === undefined) return;
      const key: TargetKey = { provider: target.provider, userId: target.userId };
      const run = await openRunUnlessBusy(options, key, result);
      if (run === null) continue;
      const summary = await crawlTargetToEnd({
        ...options,
        client,
        target,
        run,
        dailyBudgetCents: options.agntdataDailyBudgetCents,
      });
      done(summary);
      if (
        summary.errorName === UnauthorizedError.name ||
        summary.errorName === OutOfCreditsError.name
      ) {
        // The credential (401/403) or its balance (402), not the account: every other target
        // of the provider would fail the same way.
        stopped ??= `stopped after ${summary.errorName}: ${summary.error ?? ''}`;
        logger.error(
          { provider, error: summary.error },
          'crawl: credential rejected, provider stopped',
        );
      }
    }
  };
  const lanes = Math.max(1, options.concurrency ?? 2);
  await Promise.all(Array.from({ length: lanes }, lane));
  if (stopped !== null) await leftOver(stopped);
}
