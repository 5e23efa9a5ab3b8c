import { setTimeout as sleep } from 'node:timers/promises';
import type { Database } from '@birdfeed/db';
import { type CrawlQueue, type OutageLog, openCrawlQueue } from '@birdfeed/jobs';
import type { ProviderName } from '@birdfeed/model';
import type { Logger } from 'pino';
import { parseCommandArgs } from '../../../bin/commands/command-args.ts';
import { credentialLabelFor } from '../../../bin/env.ts';
import { createLogger } from '../../../bin/logger.ts';
import {
  argsOrExitCode,
  closeRedis,
  connectCheckedRedis,
  databaseOutageLog,
  openCheckedDatabase,
  ProcessStartError,
  startOrRefuse,
  throwIfAnyRejected,
} from '../../../bin/process-start.ts';
import { parseDuration } from './duration.ts';
import { parseSchedulerEnv, type SchedulerEnv } from './env.ts';
import { emptyTickResult, runTick, type SchedulerState, type TickResult } from './tick.ts';

const USAGE = `usage: birdfeed scheduler [--tick 5s] [--once] [--provider x|agntdata]...

Every tick, claims the due, enabled, active watch targets (FOR UPDATE SKIP LOCKED: several
schedulers may run), opens a run for each and enqueues its first page on the provider's queue.
A target with a run still in flight is left alone. AGNTDATA_DAILY_BUDGET_CENTS stops new
agntdata runs for the rest of the (UTC) day once reached.

  --tick        time between ticks, with a unit: 500ms, 5s, 1m; at least 100ms
                (default SCHEDULER_TICK_MS, 5s)
  --once        run one tick, print what it did and exit
  --provider    schedule only this provider (repeatable; default both)

needs REDIS_URL (maxmemory-policy noeviction) and DATABASE_URL.
`;

export class SchedulerStartError extends ProcessStartError {
  override readonly name = 'SchedulerStartError';
}

export interface SchedulerArgs {
  tickMs: number | null;
  once: boolean;
  providers: ProviderName[] | null;
}

const MIN_TICK_MS = 100;

export function parseSchedulerArgs(argv: string[]): SchedulerArgs | 'help' {
  const { values } = parseCommandArgs({
    args: argv,
    options: {
      tick: { type: 'string' },
      once: { type: 'boolean' },
      provider: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help === true) return 'help';
  let tickMs: number | null = null;
  if (values.tick !== undefined) {
    try {
      tickMs = parseDuration(values.tick);
    } catch (error) {
      throw new SchedulerStartError(`--tick: ${(error as Error).message}`);
    }
    if (tickMs < MIN_TICK_MS) {
      throw new SchedulerStartError(
        `--tick ${values.tick}: at least ${MIN_TICK_MS}ms (every tick is a Postgres transaction)`,
      );
    }
  }
  const providers = (values.provider ?? []).map((value) => {
    if (value !== 'x' && value !== 'agntdata') {
      throw new SchedulerStartError(
        `--provider must be x or agntdata, got ${JSON.stringify(value)}`,
      );
    }
    return value;
  });
  return {
    tickMs,
    once: values.once === true,
    providers: providers.length === 0 ? null : [...new Set(providers)],
  };
}

export interface RunningScheduler {
  /** Runs one tick now (the loop calls this; tests and the bench may too). */
  tick(): Promise<TickResult>;
  close(): Promise<void>;
  /** Postgres away: the ticks' errors are logged as one outage. */
  databaseOutage: OutageLog;
}

export interface StartSchedulerOptions {
  env: SchedulerEnv;
  providers?: ProviderName[] | null;
  logger: Logger;
}

/** Connects, checks Redis and opens the provider queues; no tick runs until asked. */
export async function startScheduler(options: StartSchedulerOptions): Promise<RunningScheduler> {
  const { env, logger } = options;
  if (env.REDIS_URL === undefined) {
    throw new SchedulerStartError('REDIS_URL is not set: the scheduler puts its jobs in Redis');
  }
  if (env.DATABASE_URL === undefined) {
    throw new SchedulerStartError(
      'DATABASE_URL is not set: the scheduler reads the watchlist from Postgres (without a server, use `birdfeed crawl --once`)',
    );
  }
  const { redis, outage } = await connectCheckedRedis({
    url: env.REDIS_URL,
    command: 'scheduler',
    role: 'producer',
    logger,
  });
  let database: Database | undefined;
  const queues = new Map<ProviderName, CrawlQueue>();
  const closeAll = async () => {
    const results = await Promise.allSettled([
      ...[...queues.values()].map((queue) => queue.close()),
      database?.close() ?? Promise.resolve(),
    ]);
    await closeRedis(redis);
    throwIfAnyRejected(results, 'closing the scheduler failed');
  };
  try {
    database = await openCheckedDatabase(env.DATABASE_URL, 9);
    for (const provider of options.providers ?? (['x', 'agntdata'] as const)) {
      queues.set(
        provider,
        await openCrawlQueue({
          connection: redis,
          prefix: env.BIRDFEED_QUEUE_PREFIX,
          provider,
          credentialLabel: credentialLabelFor(env, provider),
        }),
      );
    }
  } catch (error) {
    await closeAll().catch(() => {});
    throw error;
  }
  const db = database.db;
  const state: SchedulerState = { budgetLoggedDay: null };
  const databaseOutage = databaseOutageLog(
    logger,
    env.DATABASE_URL,
    'no target is claimed until it is back; the due ones stay due',
  );
  return {
    tick: async () => {
      // Redis away (the outage log has said so): claiming targets now would only push each
      // one 90 s ahead and log its enqueue failure, every tick, for the whole outage.
      if (outage.down) return emptyTickResult();
      return runTick({
        db,
        queues,
        logger,
        batch: env.SCHEDULER_BATCH,
        agntdataDailyBudgetCents: env.AGNTDATA_DAILY_BUDGET_CENTS,
        state,
        redisOutage: outage,
        databaseOutage,
      }).then((result) => {
        // Not after a tick whose targets failed: Postgres may have gone away after the claim.
        if (result.errors === 0) databaseOutage.recovered();
        return result;
      });
    },
    databaseOutage,
    close: closeAll,
  };
}

/** A tick that runs this long is stuck on a server that does not answer. */
export const TICK_STUCK_MS = 60_000;

/**
 * Says so when a tick does not end: a Postgres or Redis connection that stalls (the server
 * frozen, the network silently dropping packets) left the scheduler waiting with nothing in
 * the log and no target scheduled. Repeats every 5 minutes; one line when the tick ends.
 */
export function tickWatchdog(
  logger: Pick<Logger, 'error' | 'info'>,
  stuckMs = TICK_STUCK_MS,
  repeatMs = 5 * 60_000,
): { done(): void } {
  const started = Date.now();
  let warned = false;
  const warn = () => {
    warned = true;
    logger.error(
      { runningForS: Math.round((Date.now() - started) / 1_000) },
      'tick still running: Postgres or Redis is not answering; no target is scheduled meanwhile',
    );
    timer = setTimeout(warn, repeatMs);
    timer.unref();
  };
  let timer = setTimeout(warn, stuckMs);
  timer.unref();
  return {
    done() {
      clearTimeout(timer);
      if (warned) {
        logger.info({ tookS: Math.round((Date.now() - started) / 1_000) }, 'the stuck tick ended');
      }
    },
  };
}

export async function main(argv: string[]): Promise<number> {
  const args = argsOrExitCode('scheduler', USAGE, () => parseSchedulerArgs(argv));
  if (typeof args === 'number') return args;
  const env = parseSchedulerEnv();
  const logger = createLogger('birdfeed-scheduler', env.LOG_LEVEL);
  const scheduler = await startOrRefuse('scheduler', logger, () =>
    startScheduler({ env, providers: args.providers, logger }),
  );
  if (typeof scheduler === 'number') return scheduler;

  if (args.once) {
    try {
      const result = await scheduler.tick();
      process.stdout.write(`${JSON.stringify(result)}\n`);
      return result.errors === 0 ? 0 : 1;
    } finally {
      await scheduler.close();
    }
  }

  const tickMs = args.tickMs ?? env.SCHEDULER_TICK_MS;
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop.signal.aborted) process.exit(130);
    logger.info({ signal }, 'shutting down after the current tick');
    stop.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  logger.info({ tickMs, queues: args.providers ?? ['x', 'agntdata'] }, 'scheduler running');
  let failedTicks = 0;
  while (!stop.signal.aborted) {
    const watchdog = tickWatchdog(logger);
    try {
      const result = await scheduler.tick();
      failedTicks = 0;
      if (result.claimed > 0 || result.errors > 0) logger.info(result, 'tick');
    } catch (error) {
      // Postgres or Redis away: say so once, keep ticking; the due targets are still due.
      failedTicks += 1;
      if (!scheduler.databaseOutage.report(error)) {
        logger.error({ err: error, failedTicks }, 'tick failed');
      }
    } finally {
      watchdog.done();
    }
    await sleep(tickMs, undefined, { signal: stop.signal }).catch(() => {});
  }
  try {
    await scheduler.close();
  } catch (error) {
    logger.error({ err: error }, 'shutdown was not clean');
    return 1;
  }
  logger.info('scheduler stopped cleanly');
  return 0;
}
