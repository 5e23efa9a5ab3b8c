import { openRun } from '@birdfeed/crawl';
import {
  type BirdfeedDb,
  claimDueTargets,
  closeOrphanedRun,
  finishRun,
  getCheckpoint,
  getRun,
  releaseClaim,
  spendDay,
  spentToday,
  type WatchTarget,
} from '@birdfeed/db';
import {
  type CrawlQueue,
  crawlJobPriority,
  enqueueFirstPage,
  type OutageLog,
  type RedisOutageLog,
  targetDeduplicationId,
} from '@birdfeed/jobs';
import type { ProviderName } from '@birdfeed/model';
import type { Logger } from 'pino';

export interface SchedulerState {
  /** The UTC day the "agntdata budget reached" line was last logged (once per day). */
  budgetLoggedDay: string | null;
  /**
   * Targets claimed by a tick that then lost Postgres: their claim moved them a whole interval
   * ahead and could not be released then; a later tick releases them (due again shortly).
   */
  unreleased?: Map<string, WatchTarget>;
}

export interface TickOptions {
  db: BirdfeedDb;
  /** The queue each provider's jobs go to; a provider without one is not scheduled. */
  queues: ReadonlyMap<ProviderName, CrawlQueue>;
  logger: Logger;
  /** Targets claimed per tick at most. */
  batch: number;
  /**
   * Targets scheduled at once (each is a few round trips to Postgres and Redis: one at a
   * time, 200 targets took seconds). @defaultValue 8
   */
  concurrency?: number;
  /** No new agntdata run once today's (UTC) spend has reached this; undefined = no cap. */
  agntdataDailyBudgetCents?: number | undefined;
  state: SchedulerState;
  /** @defaultValue () => new Date() */
  now?: () => Date;
  /** Where a lost Redis is reported once, instead of a line per target. */
  redisOutage?: RedisOutageLog;
  /** The same for Postgres. */
  databaseOutage?: OutageLog;
}

export interface TickResult {
  claimed: number;
  /** First-page jobs added: one new run each. */
  enqueued: number;
  /** Targets skipped because a run of theirs is still in the queue. */
  inFlight: number;
  /** Orphaned runs (marked running, but with no job left in the queue) closed and restarted. */
  orphansClosed: number;
  /** Providers left out of this tick, with why. */
  skippedProviders: Partial<Record<ProviderName, string>>;
  errors: number;
}

async function budgetReason(
  options: TickOptions,
  provider: ProviderName,
  now: Date,
): Promise<string | null> {
  const budget = options.agntdataDailyBudgetCents;
  if (provider !== 'agntdata' || budget === undefined) return null;
  const spent = await spentToday(options.db, 'agntdata', now);
  if (spent.costCents < budget) return null;
  return `daily budget reached: ${spent.costCents}¢ spent today (UTC) of AGNTDATA_DAILY_BUDGET_CENTS=${budget}¢`;
}

/**
 * One scheduler tick: claim the due targets (FOR UPDATE SKIP LOCKED, which also moves their
 * next due time one interval ahead, so several schedulers never claim the same target), open a
 * run for each and enqueue its first page. The first page carries the target's deduplication
 * id, like every later page of the run: a target never has two runs in flight.
 */
export function emptyTickResult(): TickResult {
  return {
    claimed: 0,
    enqueued: 0,
    inFlight: 0,
    orphansClosed: 0,
    skippedProviders: {},
    errors: 0,
  };
}

/** Releases the claims a tick could not release while Postgres was away. */
async function releaseLeftClaims(options: TickOptions): Promise<void> {
  const left = options.state.unreleased;
  if (left === undefined) return;
  for (const [key, target] of left) {
    await releaseClaim(options.db, target, CLAIM_RETRY_SECONDS);
    left.delete(key);
  }
}

export async function runTick(options: TickOptions): Promise<TickResult> {
  await releaseLeftClaims(options);
  const now = (options.now ?? (() => new Date()))();
  const result = emptyTickResult();
  const providers: ProviderName[] = [];
  for (const provider of options.queues.keys()) {
    const reason = await budgetReason(options, provider, now);
    if (reason === null) {
      providers.push(provider);
      continue;
    }
    result.skippedProviders[provider] = reason;
    const day = spendDay(now);
    if (options.state.budgetLoggedDay !== day) {
      options.state.budgetLoggedDay = day;
      options.logger.warn({ provider }, `no new ${provider} runs today: ${reason}`);
    }
  }
  if (providers.length === 0) return result;

  // Due-ness is judged by the database's clock (the one that wrote next_due_at), unless a test
  // pins the clock: a JS Date is only millisecond-precise and a hair behind Postgres' now().
  const targets = await claimDueTargets(options.db, {
    limit: options.batch,
    providers,
    ...(options.now === undefined ? {} : { now }),
  });
  result.claimed = targets.length;
  // Claimed in priority order; each worker lane takes the next one, so the most urgent
  // targets are enqueued first.
  let next = 0;
  const lane = async () => {
    for (;;) {
      const target = targets[next];
      next += 1;
      if (target === undefined) return;
      const queue = options.queues.get(target.provider);
      if (queue === undefined) continue;
      try {
        await scheduleTarget(options, queue, target, result);
      } catch (error) {
        // One target's trouble (a DB hiccup, Redis briefly away) must not starve the others.
        // Its claim moved it a whole interval ahead: it is due again shortly instead.
        result.errors += 1;
        const released = await releaseClaim(options.db, target, CLAIM_RETRY_SECONDS).catch(() => {
          options.state.unreleased ??= new Map();
          options.state.unreleased.set(`${target.provider}:${target.userId}`, target);
          return false;
        });
        // Redis lost mid-tick: the outage log says it once, not once per target.
        if (options.redisOutage?.reportIfDown(error) === true) continue;
        if (options.databaseOutage?.report(error) === true) continue;
        options.logger.error(
          { err: error, provider: target.provider, userId: target.userId },
          released
            ? `could not schedule a target; it is due again in ${CLAIM_RETRY_SECONDS}s`
            : 'could not schedule a target; its claim is released by a later tick',
        );
      }
    }
  };
  const lanes = Math.max(1, Math.min(options.concurrency ?? 8, targets.length));
  await Promise.all(Array.from({ length: lanes }, lane));
  return result;
}

/** A target whose claim failed is due again this soon (past the orphan grace below). */
const CLAIM_RETRY_SECONDS = 90;

/** A running run with no job younger than this is left alone rather than called orphaned. */
const ORPHAN_GRACE_MS = 60_000;

async function scheduleTarget(
  options: TickOptions,
  queue: CrawlQueue,
  target: WatchTarget,
  result: TickResult,
): Promise<void> {
  const { db, logger } = options;
  const key = { provider: target.provider, userId: target.userId };
  const dedupId = targetDeduplicationId(target.provider, target.userId);
  if ((await queue.getDeduplicationJobId(dedupId)) !== null) {
    result.inFlight += 1;
    logger.debug(key, 'run still in flight; not starting another');
    return;
  }
  // No job of the target is in the queue, yet its checkpoint names a running run: that run's
  // chain of page jobs is gone (Redis lost it, or its failure could not be recorded). Close it
  // so the new run starts clean; the checkpoint keeps its cursor, so nothing is re-read twice.
  const checkpoint = await getCheckpoint(db, key);
  if (checkpoint?.runId != null) {
    const previous = await getRun(db, checkpoint.runId);
    const now = (options.now ?? (() => new Date()))().getTime();
    if (previous?.outcome === 'running' && now - previous.startedAt.getTime() < ORPHAN_GRACE_MS) {
      // Opened moments ago: likely another scheduler's run between opening it and enqueuing
      // its first page (a `watchlist enable` can make a just-claimed target due again).
      result.inFlight += 1;
      logger.debug(
        { ...key, runId: previous.id },
        'run just opened elsewhere; not starting another',
      );
      return;
    }
    if (previous?.outcome === 'running') {
      await closeOrphanedRun(db, previous.id);
      result.orphansClosed += 1;
      logger.warn({ ...key, runId: previous.id }, 'closed an orphaned run');
    }
  }
  const run = await openRun(db, key);
  const enqueued = await enqueueFirstPage(
    queue,
    { provider: target.provider, userId: target.userId, runId: run.id, kind: run.kind, page: 0 },
    { priority: crawlJobPriority(run.kind, target.priority) },
  );
  if (!enqueued.added) {
    // Another producer got a run in between: this one never starts.
    await finishRun(db, run.id, 'cancelled', 'another run of this target was already in flight');
    result.inFlight += 1;
    return;
  }
  result.enqueued += 1;
  logger.debug({ ...key, runId: run.id, kind: run.kind }, 'run enqueued');
}
