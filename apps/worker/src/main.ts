import { type Database, databaseAnswers } from '@birdfeed/db';
import type { ProviderName } from '@birdfeed/model';
import type { Logger } from 'pino';
import { parseCommandArgs, parseIntegerFlag } from '../../../bin/commands/command-args.ts';
import { credentialLabelFor, requestBudgetFor } from '../../../bin/env.ts';
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
import { createPageRunner, type PageRunner } from './crawl-adapter.ts';
import { type CrawlWorker, createCrawlWorker } from './crawl-worker.ts';
import { parseWorkerEnv, type WorkerEnv } from './env.ts';
import { waitForShutdownSignal } from './shutdown.ts';

const USAGE = `usage: birdfeed worker [--provider x|agntdata]... [--concurrency N]

Runs BullMQ crawl workers: one per provider credential, one page request per job, inside the
provider's budget (X_RATE_LIMIT_MAX per X_RATE_LIMIT_WINDOW_MS, AGNTDATA_RATE_LIMIT_PER_MINUTE),
shared by every worker process on the same Redis. SIGTERM/SIGINT finish the pages in flight.

  --provider      x or agntdata (repeatable); default: every provider with a credential set
  --concurrency   pages in flight per provider in this process (default WORKER_CONCURRENCY, 4)

needs REDIS_URL (maxmemory-policy noeviction) and DATABASE_URL.
`;

export class WorkerStartError extends ProcessStartError {
  override readonly name = 'WorkerStartError';
}

export interface WorkerArgs {
  providers: ProviderName[] | null;
  concurrency: number | null;
}

export function parseWorkerArgs(argv: string[]): WorkerArgs | 'help' {
  const { values } = parseCommandArgs({
    args: argv,
    options: {
      provider: { type: 'string', multiple: true },
      concurrency: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help === true) return 'help';
  const providers = (values.provider ?? []).map((value) => {
    if (value !== 'x' && value !== 'agntdata') {
      throw new WorkerStartError(`--provider must be x or agntdata, got ${JSON.stringify(value)}`);
    }
    return value;
  });
  const concurrency =
    values.concurrency === undefined
      ? null
      : parseIntegerFlag('concurrency', values.concurrency, 1, 256);
  return { providers: providers.length === 0 ? null : [...new Set(providers)], concurrency };
}

export interface RunningWorkers {
  workers: CrawlWorker[];
  close(): Promise<void>;
}

export interface StartWorkersOptions {
  env: WorkerEnv;
  providers?: ProviderName[] | null;
  concurrency?: number | null;
  logger: Logger;
}

function credentialFor(env: WorkerEnv, provider: ProviderName): string | undefined {
  return provider === 'x' ? env.X_BEARER_TOKEN : env.AGNTDATA_API_KEY;
}

/**
 * Everything `birdfeed worker` runs, without the signal handling: the bench and the tests start
 * it in-process. Refuses (a ProcessStartError / RedisPolicyError) before taking any job.
 */
export async function startWorkers(options: StartWorkersOptions): Promise<RunningWorkers> {
  const { env, logger } = options;
  if (env.REDIS_URL === undefined) {
    throw new WorkerStartError('REDIS_URL is not set: the worker takes its jobs from Redis');
  }
  if (env.DATABASE_URL === undefined) {
    throw new WorkerStartError(
      'DATABASE_URL is not set: workers in several processes need a Postgres server (the embedded PGlite database is for one process: use `birdfeed crawl --once`)',
    );
  }
  const providers =
    options.providers ??
    (['x', 'agntdata'] as const).filter((provider) => credentialFor(env, provider) !== undefined);
  if (providers.length === 0) {
    throw new WorkerStartError(
      'no provider to work for: set X_BEARER_TOKEN and/or AGNTDATA_API_KEY (or pass --provider)',
    );
  }
  for (const provider of providers) {
    if (credentialFor(env, provider) === undefined) {
      throw new WorkerStartError(
        `--provider ${provider} needs ${provider === 'x' ? 'X_BEARER_TOKEN' : 'AGNTDATA_API_KEY'}`,
      );
    }
  }

  const { redis, outage } = await connectCheckedRedis({
    url: env.REDIS_URL,
    command: 'worker',
    role: 'worker',
    logger,
  });
  let database: Database | undefined;
  const runners: PageRunner[] = [];
  const workers: CrawlWorker[] = [];
  const closeAll = async () => {
    const results = await Promise.allSettled(workers.map((worker) => worker.close()));
    const more = await Promise.allSettled([
      ...runners.map((runner) => runner.close()),
      database?.close() ?? Promise.resolve(),
    ]);
    await closeRedis(redis);
    throwIfAnyRejected([...results, ...more], 'closing the worker failed');
  };

  try {
    database = await openCheckedDatabase(
      env.DATABASE_URL,
      (options.concurrency ?? env.WORKER_CONCURRENCY) * providers.length + 2,
      // The page deadline's signal reaches the HTTP request only: a statement stuck on a lock
      // past it is cancelled by Postgres, and its connection comes back to the pool.
      env.WORKER_JOB_TIMEOUT_MS,
    );
    const databaseUrl = env.DATABASE_URL;
    const databaseOutage = databaseOutageLog(
      logger,
      env.DATABASE_URL,
      'the queues are held and the jobs keep their attempts until it is back',
    );
    for (const provider of providers) {
      const runner = createPageRunner({ env, provider, db: database.db, logger });
      runners.push(runner);
      workers.push(
        await createCrawlWorker({
          connection: redis,
          redisOutage: outage,
          databaseOutage,
          databaseAnswers: () => databaseAnswers(databaseUrl),
          prefix: env.BIRDFEED_QUEUE_PREFIX,
          provider,
          credentialLabel: credentialLabelFor(env, provider),
          limiter: requestBudgetFor(env, provider),
          step: runner.step,
          onFinalFailure: runner.onFinalFailure,
          logger,
          concurrency: options.concurrency ?? env.WORKER_CONCURRENCY,
          jobTimeoutMs: env.WORKER_JOB_TIMEOUT_MS,
          lockDurationMs: env.WORKER_LOCK_DURATION_MS,
          stalledIntervalMs: env.WORKER_STALLED_INTERVAL_MS,
          ...(env.WORKER_BACKOFF_BASE_MS === undefined
            ? {}
            : { backoffBaseMs: env.WORKER_BACKOFF_BASE_MS }),
        }),
      );
    }
  } catch (error) {
    await closeAll().catch(() => {});
    throw error;
  }
  logger.info(
    {
      queues: workers.map((worker) => worker.queueName),
      concurrency: options.concurrency ?? env.WORKER_CONCURRENCY,
    },
    'worker ready',
  );
  return { workers, close: closeAll };
}

export async function main(argv: string[]): Promise<number> {
  const args = argsOrExitCode('worker', USAGE, () => parseWorkerArgs(argv));
  if (typeof args === 'number') return args;
  const env = parseWorkerEnv();
  const logger = createLogger('birdfeed-worker', env.LOG_LEVEL);
  const stopSignal = waitForShutdownSignal(logger);
  const running = await startOrRefuse('worker', logger, () =>
    startWorkers({ env, providers: args.providers, concurrency: args.concurrency, logger }),
  );
  if (typeof running === 'number') return running;
  await stopSignal;
  try {
    await running.close();
  } catch (error) {
    logger.error({ err: error }, 'shutdown was not clean');
    return 1;
  }
  logger.info('worker stopped cleanly');
  return 0;
}
