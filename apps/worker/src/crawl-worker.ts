import { setTimeout as sleep } from 'node:timers/promises';
import { describeError } from '@birdfeed/crawl';
import {
  type CrawlPagePayload,
  type CrawlQueue,
  crawlPagePayloadSchema,
  createBackoffStrategy,
  enqueueNextPage,
  jobCatalog,
  type OutageLog,
  openCrawlQueue,
  parseJob,
  pauseReasonKey,
  queueRegistryKey,
  type RedisOutageLog,
} from '@birdfeed/jobs';
import type { ProviderName } from '@birdfeed/model';
import { rateLimitOf } from '@birdfeed/providers';
import { DelayedError, type Job, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import {
  DATABASE_DOWN_HOLD_MS,
  decideOnError,
  MAX_HOLD_MS,
  PageFailedError,
  rootError,
} from './error-policy.ts';
import { stretchLimiterWindow } from './limiter-window.ts';
import type { FinalFailureHandler, PageRateLimit, PageStep, PageStepResult } from './page-step.ts';

export interface LimiterOptions {
  /** Requests per window: the provider's budget for this credential. */
  max: number;
  windowMs: number;
}

export interface CrawlWorkerOptions {
  connection: Redis;
  /** Where connection errors go, one outage at a time, instead of a line per retry. */
  redisOutage?: RedisOutageLog;
  /** The same for Postgres: while it is away the queue is held and jobs keep their attempts. */
  databaseOutage?: OutageLog;
  /** How long each hold lasts while Postgres is away. @defaultValue DATABASE_DOWN_HOLD_MS */
  databaseDownHoldMs?: number;
  /**
   * Whether Postgres takes a new connection now; asked when a page fails with a lost
   * connection, to tell an outage from that one connection. Without it every such error is an
   * outage.
   */
  databaseAnswers?: () => Promise<boolean>;
  prefix: string;
  provider: ProviderName;
  /** @defaultValue 'default' */
  credentialLabel?: string;
  limiter: LimiterOptions;
  step: PageStep;
  onFinalFailure: FinalFailureHandler;
  logger: Logger;
  /** Pages in flight in this process. @defaultValue 4 */
  concurrency?: number;
  /** Per-job deadline. @defaultValue the catalog's (60 s) */
  jobTimeoutMs?: number;
  /**
   * How long a job's lock lives without renewal. A worker killed with SIGKILL stops renewing;
   * after this long (plus up to one stalled interval) another worker takes the job again.
   * @defaultValue 30000
   */
  lockDurationMs?: number;
  /** @defaultValue 15000 */
  stalledIntervalMs?: number;
  /** Base of the exponential retry delay. @defaultValue the job's own (1 s) */
  backoffBaseMs?: number;
  /** Safety margin added to a provider's reset time before the queue runs again. @defaultValue 250 */
  resetMarginMs?: number;
  /** 429s one page may get before it fails. @defaultValue RATE_LIMITED_TRIES_MAX */
  rateLimitedTriesMax?: number;
}

/**
 * The cap on a page's tries that end in a 429. Each is followed by a hold until the provider's
 * reset, so this is hours of a provider refusing the credential (X: up to 50 hours of
 * 15-minute windows) — its budget spent by another client, or a limit lower than the
 * configured one — not a storm, which a hold outlasts. Then the page fails and says why,
 * instead of waiting in silence forever; the next run resumes from the saved cursor.
 */
export const RATE_LIMITED_TRIES_MAX = 200;

/** The job hash field counting a page's 429s (BullMQ ignores fields it does not know). */
const RATE_LIMITED_TRIES_FIELD = 'birdfeed429s';

export interface CrawlWorker {
  readonly provider: ProviderName;
  readonly queueName: string;
  readonly worker: Worker<CrawlPagePayload, PageOutcome, 'crawl-page'>;
  readonly queue: CrawlQueue;
  /** Lets the in-flight pages finish, then closes; every step runs even when one fails. */
  close(): Promise<void>;
}

export interface PageOutcome {
  next: boolean;
  tweetsNew?: number | undefined;
}

/**
 * After the deadline fires, how long a step that ignores its signal gets before we give up on it.
 * A page in flight at shutdown may take the job timeout plus this: docker-compose.yml's
 * stop_grace_period for the worker covers both.
 */
export const DEADLINE_GRACE_MS = 5_000;

class PageDeadlineError extends Error {
  override readonly name = 'PageDeadlineError';
}

/**
 * Resolves with the step, or rejects once the signal has been aborted for a grace period: a
 * client that honours the signal fails on its own first (as a TransientError), and one that
 * does not can no longer hold a worker slot forever.
 */
function withDeadline<T>(work: Promise<T>, signal: AbortSignal, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      timer = setTimeout(
        () => reject(new PageDeadlineError(`page did not finish within ${timeoutMs} ms`)),
        DEADLINE_GRACE_MS,
      );
      timer.unref();
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        if (timer !== undefined) clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        if (timer !== undefined) clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/**
 * Puts an active job back in the queue `delayMs` from now, no attempt counted. With its lock
 * lost (a Redis failover, a blocked event loop) BullMQ refuses, and the stalled check puts the
 * job back at once instead: said, since the delay was what kept it from running beside a
 * step still alive here.
 */
async function putBack(
  job: Job<CrawlPagePayload, PageOutcome, 'crawl-page'>,
  token: string | undefined,
  delayMs: number,
  log: Logger,
): Promise<never> {
  try {
    await job.moveToDelayed(Date.now() + delayMs, token);
  } catch (error) {
    log.warn(
      { err: error instanceof Error ? error.message : String(error), delayMs },
      'could not put the job back delayed (its lock was lost): the stalled-job check returns it to the queue without the delay',
    );
    throw error;
  }
  throw new DelayedError();
}

/**
 * Waits up to `waitMs` more for a step given up at its deadline: its value or its error once it
 * settles, undefined when it does not settle in time or the worker is stopping. A step still alive
 * past its deadline has usually bought its page and waits on Postgres (a lock, a slow disk);
 * retrying beside it bought the page a second time.
 */
async function lateOutcome<T>(
  work: Promise<T>,
  waitMs: number,
  stop: AbortSignal,
): Promise<{ value: T } | { error: unknown } | undefined> {
  if (stop.aborted) return undefined;
  let timer: NodeJS.Timeout | undefined;
  let onStop: (() => void) | undefined;
  const givenUp = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), waitMs);
    onStop = () => resolve(undefined);
    stop.addEventListener('abort', onStop, { once: true });
  });
  try {
    return await Promise.race([
      work.then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      ),
      givenUp,
    ]);
  } finally {
    clearTimeout(timer);
    if (onStop !== undefined) stop.removeEventListener('abort', onStop);
  }
}

/**
 * A worker started while the limiter's window is already spent (a 429 hold, or a limit lowered
 * below what this window has used) starts no page until the window ends, up to the provider's
 * whole window (X: 15 minutes). Say so at start, or the worker looks hung.
 */
async function explainOpenWindow(
  redis: Redis,
  limiterKey: string,
  max: number,
  log: Logger,
): Promise<void> {
  const [count, ttlMs] = await Promise.all([redis.get(limiterKey), redis.pttl(limiterKey)]);
  const used = Number(count ?? 0);
  if (ttlMs <= 0 || used < max) return;
  const until = new Date(Date.now() + ttlMs).toISOString();
  if (used >= Number.MAX_SAFE_INTEGER) {
    log.warn(
      { heldMs: ttlMs, until },
      'the queue is held until the provider resets its window (a 429 or an exhausted budget seen before this start): no page starts until then',
    );
  } else {
    log.warn(
      { used, max, heldMs: ttlMs, until },
      `this limiter window has already started ${used} pages, the limit is ${max}: no page starts until the window ends`,
    );
  }
}

export async function createCrawlWorker(options: CrawlWorkerOptions): Promise<CrawlWorker> {
  const definition = jobCatalog['crawl-page'];
  const jobTimeoutMs = options.jobTimeoutMs ?? definition.timeoutMs;
  const resetMarginMs = options.resetMarginMs ?? 250;
  const queue = await openCrawlQueue({
    connection: options.connection,
    prefix: options.prefix,
    provider: options.provider,
    ...(options.credentialLabel === undefined ? {} : { credentialLabel: options.credentialLabel }),
  });
  const log = options.logger.child({ queue: queue.name });
  const limiterKey = `${options.prefix}:${queue.name}:limiter`;
  const pauseKey = pauseReasonKey(options.prefix, queue.name);

  // The limiter lives in Redis, in the queue's meta: every worker process on every machine
  // reads the same counter, so together they start at most `max` pages per window.
  await queue.setGlobalRateLimit(options.limiter.max, options.limiter.windowMs);
  await explainOpenWindow(options.connection, limiterKey, options.limiter.max, log);
  // A Redis that comes back empty (no persistence, a failover) lost the queue's registry entry
  // and its limiter: `status` showed 'limiter unknown' (or no queue) until a worker restarted.
  const reassert = () => {
    void Promise.all([
      options.connection.sadd(queueRegistryKey(options.prefix), queue.name),
      queue.setGlobalRateLimit(options.limiter.max, options.limiter.windowMs),
    ]).catch((error: unknown) => {
      log.warn(
        { err: error instanceof Error ? error.message : String(error) },
        'could not restore the queue limiter',
      );
    });
  };
  options.connection.on('ready', reassert);

  /** Aborted by close(): a slot waiting out a Postgres outage stops waiting. */
  const closing = new AbortController();
  const pendingRecords = new Set<Promise<void>>();
  const track = (work: Promise<void>) => {
    pendingRecords.add(work);
    void work.finally(() => pendingRecords.delete(work));
  };

  /**
   * Holds the whole queue (every worker process) until `ms` from now, unless it is already held
   * at least that long. BullMQ's rateLimit sets the shared limiter counter to "full" with a TTL.
   */
  const wakeTimers = new Set<NodeJS.Timeout>();
  /** The provider reset (epoch ms) this process last stretched the limiter window to. */
  let stretchedFor = 0;
  const markerKey = `${options.prefix}:${queue.name}:marker`;
  const holdQueue = async (ms: number, why: string) => {
    const held = await options.connection.pttl(limiterKey);
    const full = Number(await options.connection.get(limiterKey)) >= Number.MAX_SAFE_INTEGER;
    if (full && held >= ms) return;
    await queue.rateLimit(Math.ceil(ms));
    log.warn({ holdMs: Math.ceil(ms), why }, 'queue held until the provider resets its window');
    // A job put back by a 429 lands in the prioritized set without BullMQ's wake-up marker, so
    // a worker blocked waiting for work would only notice it after its drain delay. Drop the
    // marker BullMQ itself uses ("a job is available") the moment the hold ends.
    const timer = setTimeout(() => {
      wakeTimers.delete(timer);
      options.connection.zadd(markerKey, 0, '0').catch(() => {});
    }, Math.ceil(ms) + 10);
    timer.unref();
    wakeTimers.add(timer);
  };

  /**
   * What a response (a page, or an error response: X sends its window on a 503 too) said about
   * the provider's window. The last request of the window: stop everyone now rather than spend
   * the next request on a 429. Otherwise the limiter's window ends no sooner than the provider's.
   */
  const heedWindow = async (
    rateLimit: PageRateLimit | null | undefined,
    jobLog: Logger,
    why = 'remaining=0',
  ): Promise<void> => {
    if (rateLimit === null || rateLimit === undefined) return;
    const { remaining, resetAt } = rateLimit;
    if (remaining <= 0) {
      const waitMs = Math.min(resetAt.getTime() - Date.now() + resetMarginMs, MAX_HOLD_MS);
      if (waitMs > 0) await holdQueue(waitMs, why);
    } else if (resetAt.getTime() !== stretchedFor) {
      // Once per provider window and process: the limiter's window ends no sooner than the
      // provider's (see limiter-window.ts).
      stretchedFor = resetAt.getTime();
      await stretchLimiterWindow(options.connection, limiterKey, {
        resetAt,
        marginMs: resetMarginMs,
        windowMs: options.limiter.windowMs,
      }).catch((error: unknown) => {
        jobLog.warn({ err: error }, 'could not stretch the limiter window to the reset');
      });
    }
  };

  const stopProvider = async (reason: 'unauthorized' | 'out-of-credits', error: Error) => {
    // SET NX: of every worker process that hits the 401 at about the same time, exactly one
    // wins and logs; the others see the queue already stopped and stay quiet.
    const first = await options.connection.set(
      pauseKey,
      `${reason}: ${error.message} (since ${new Date().toISOString()})`,
      'NX',
    );
    await queue.pause();
    if (first === 'OK') {
      const provider = options.provider.toUpperCase();
      const variable = options.provider === 'x' ? 'X_BEARER_TOKEN' : 'AGNTDATA_API_KEY';
      const paused = `queue ${queue.name} is paused, no job is lost`;
      let message = `PROVIDER ${provider} IS OUT OF CREDITS: ${paused}. Top up, then restart the worker (it resumes the queue).`;
      if (reason === 'unauthorized') {
        // No status: the request never left (undici refused the header), so the provider did
        // not reject anything; the credential cannot even be sent.
        const what =
          (error as { status?: unknown }).status === undefined
            ? `CANNOT SEND THE ${provider} CREDENTIAL (${error.message})`
            : `PROVIDER ${provider} REJECTED THE CREDENTIAL (401/403)`;
        message = `${what}: ${paused}. Fix the credential (${variable}), then restart the worker (it resumes the queue).`;
      }
      log.fatal({ reason, err: { name: error.name, message: error.message } }, message);
    }
  };

  // A queue paused by a previous process for a bad credential: starting a worker is how the
  // operator says "the credential is fixed". If it is not, the first page stops it again.
  if (await queue.isPaused()) {
    const reason = await options.connection.get(pauseKey);
    if (reason !== null) {
      await queue.resume();
      await options.connection.del(pauseKey);
      log.warn({ previousReason: reason }, 'resumed a queue paused for its credential');
    } else {
      log.warn('queue is paused by an operator; this worker waits until it is resumed');
    }
  }

  /**
   * Waits out a Postgres outage: `holdMs`, then asks whether it takes connections again, until
   * it does (true) or the worker stops or BullMQ cancels the job (false).
   */
  const waitForDatabase = async (
    holdMs: number,
    cancelSignal: AbortSignal | undefined,
  ): Promise<boolean> => {
    // Not AbortSignal.any([cancelSignal, closing.signal]): on Node 20 every composed signal
    // stays registered on the long-lived `closing` signal until the worker stops, a few dozen
    // bytes a job for the life of the process. Listeners removed on the way out cost nothing.
    const sources = cancelSignal === undefined ? [closing.signal] : [cancelSignal, closing.signal];
    if (sources.some((source) => source.aborted)) return false;
    const stopping = new AbortController();
    const stop = () => stopping.abort();
    for (const source of sources) source.addEventListener('abort', stop, { once: true });
    try {
      for (;;) {
        await sleep(holdMs, undefined, { signal: stopping.signal }).catch(() => {});
        if (stopping.signal.aborted) return false;
        if (options.databaseAnswers === undefined || (await options.databaseAnswers())) {
          return true;
        }
      }
    } finally {
      for (const source of sources) source.removeEventListener('abort', stop);
    }
  };

  const processor = async (
    job: Job<CrawlPagePayload, PageOutcome, 'crawl-page'>,
    token?: string,
    cancelSignal?: AbortSignal,
  ): Promise<PageOutcome> => {
    const { payload } = parseJob(job.name, job.data, 'crawl-page');
    if (payload.provider !== options.provider) {
      throw new PageFailedError(
        new Error(`a ${payload.provider} job reached the ${options.provider} queue ${queue.name}`),
      );
    }
    const jobId = job.id ?? '(no id)';
    const jobLog = log.child({
      jobId,
      userId: payload.userId,
      runId: payload.runId,
      page: payload.page,
    });
    // The step's own lines name the target (provider, userId, runId) themselves, as crawl
    // --once's do: bound here too, each would appear twice in one JSON line.
    const stepLog = log.child({ jobId, page: payload.page });
    let result: PageStepResult | undefined;
    while (result === undefined) {
      const deadline = AbortSignal.timeout(jobTimeoutMs);
      const signal =
        cancelSignal === undefined ? deadline : AbortSignal.any([cancelSignal, deadline]);
      let seen: PageRateLimit | null = null;
      const work = options.step(payload, {
        jobId,
        attempt: job.attemptsMade + 1,
        signal,
        logger: stepLog,
        observeRateLimit: (rateLimit) => {
          seen = rateLimit;
        },
      });
      try {
        result = await withDeadline(work, signal, jobTimeoutMs);
      } catch (caught) {
        let error = caught;
        // A page past its deadline with Postgres silent (a partition, a frozen server: its
        // statements neither answer nor fail) is the outage's, not the page's.
        const silentDatabase =
          error instanceof PageDeadlineError &&
          options.databaseAnswers !== undefined &&
          !(await options.databaseAnswers());
        if (error instanceof PageDeadlineError && !silentDatabase) {
          // A statement that began before the deadline ends within statement_timeout (the job
          // timeout): wait that long for the step before anything runs the page again, and
          // judge the page by how it ended (a late failure may be one that must not retry).
          const late = await lateOutcome(work, jobTimeoutMs, closing.signal);
          if (late !== undefined && 'value' in late) {
            jobLog.warn(
              { deadlineMs: jobTimeoutMs },
              'page finished after its deadline; its result stands, nothing fetched again',
            );
            result = late.value;
            continue;
          }
          if (late !== undefined) error = late.error;
          else if (closing.signal.aborted) {
            // Stopping, with the step still alive: back in the queue, no attempt counted, and
            // not before the step's last statement has ended (statement_timeout) one way or
            // the other, so no other worker runs the page beside it.
            await putBack(job, token, jobTimeoutMs, jobLog);
          }
        }
        let decision = decideOnError(error, { resetMarginMs });
        // One connection lost while the server takes new ones (an operator's
        // pg_terminate_backend, a proxy's timeout, a backend killed for memory) is this page's
        // own failure: an attempt, or it would be fetched (and bought) again every hold, forever.
        if (decision.action === 'database-down' && (await options.databaseAnswers?.()) === true) {
          decision = { action: 'retry' };
        }
        if (silentDatabase) decision = { action: 'database-down', waitMs: DATABASE_DOWN_HOLD_MS };
        const err =
          error instanceof PageDeadlineError && decision.action === 'database-down'
            ? Object.assign(
                new Error(
                  `no answer from Postgres within the page deadline (${jobTimeoutMs} ms), and no new connection: a stalled connection`,
                ),
                { code: 'ETIMEDOUT' },
              )
            : rootError(error);
        // A 429 holds on its own reset below; any other error response that carried the
        // window holds as a page would (a 503 with `remaining: 0`: the retry must wait for the
        // reset), then the error takes its usual course.
        if (decision.action !== 'rate-limited') {
          const why = `remaining=0 on a ${err.name} (${describeError(err).status ?? 'no status'})`;
          // A response's window (a 503's), else that of the page fetched before the write failed.
          const window = rateLimitOf(error) ?? seen;
          await heedWindow(window, jobLog, why).catch((holdError: unknown) => {
            // The page's own error still decides what happens to it.
            jobLog.warn(
              { err: describeError(holdError) },
              'could not hold the queue for the window an error response said is spent',
            );
          });
        }
        switch (decision.action) {
          case 'rate-limited': {
            // Counted in the job's own hash (deleted with the job): BullMQ's start counter also
            // counts a stopping worker's put-backs and the re-runs of a paused provider.
            const rateLimitedTries = await options.connection.hincrby(
              `${options.prefix}:${queue.name}:${jobId}`,
              RATE_LIMITED_TRIES_FIELD,
              1,
            );
            // Held first either way: the next page must not ask before the reset either.
            await holdQueue(decision.waitMs, '429');
            const cap = options.rateLimitedTriesMax ?? RATE_LIMITED_TRIES_MAX;
            if (rateLimitedTries >= cap) {
              const capped = new Error(
                `${err.message} — ${rateLimitedTries} 429s for this page, the cap (${cap}): the provider keeps refusing this credential between resets; is another client spending its budget, or is the provider's limit lower than the configured one?`,
                { cause: err },
              );
              jobLog.error({ err: describeError(capped) }, 'page failed: rate-limited too often');
              throw new PageFailedError(capped);
            }
            // Back to the head of the queue, not a failed attempt: BullMQ moves it to wait.
            throw Worker.RateLimitError();
          }
          case 'stop-provider':
            await stopProvider(decision.reason, err);
            throw Worker.RateLimitError();
          case 'database-down': {
            // Logged once per outage (the outage log), not once per job and hold.
            if (options.databaseOutage?.report(err) !== true) {
              jobLog.error({ err: describeError(err) }, 'postgres unreachable');
            }
            // The job stays active (BullMQ keeps renewing its lock) and this slot waits until
            // Postgres answers, then runs the step again: no attempt counted, no new start
            // charged to the provider's limiter, one probe per slot and hold. Put back in the
            // queue (no attempt counted either) only when the worker stops meanwhile.
            const holdMs = options.databaseDownHoldMs ?? decision.waitMs;
            const back = await waitForDatabase(holdMs, cancelSignal);
            if (!back) await putBack(job, token, 0, jobLog);
            if (silentDatabase) {
              // The step given up on a frozen server may thaw with it and finish the page it
              // bought: wait for it (Postgres answers now) rather than buy the page beside it.
              const late = await lateOutcome(work, jobTimeoutMs, closing.signal);
              if (late !== undefined && 'value' in late) {
                result = late.value;
                continue;
              }
            }
            continue;
          }
          case 'fail':
            jobLog.error({ err: describeError(err) }, 'page failed for good');
            throw error instanceof PageFailedError ? error : new PageFailedError(error);
          case 'retry': {
            const attempt = job.attemptsMade + 1;
            const last = attempt >= (job.opts.attempts ?? 1);
            jobLog.warn(
              { err: describeError(err), attempt },
              last ? 'page failed on its last attempt' : 'page failed, will retry with backoff',
            );
            throw error;
          }
        }
      }
    }
    options.databaseOutage?.recovered();

    await heedWindow(result.rateLimit, jobLog);

    if (result.next) {
      await enqueueNextPage(
        queue,
        { ...payload, page: payload.page + 1 },
        {
          ...(job.opts.priority === undefined ? {} : { priority: job.opts.priority }),
          ...(job.opts.attempts === undefined ? {} : { attempts: job.opts.attempts }),
        },
      );
    }
    jobLog.debug({ next: result.next, tweetsNew: result.tweetsNew }, 'page done');
    return { next: result.next, tweetsNew: result.tweetsNew };
  };

  const worker = new Worker<CrawlPagePayload, PageOutcome, 'crawl-page'>(queue.name, processor, {
    connection: options.connection,
    prefix: options.prefix,
    concurrency: options.concurrency ?? 4,
    limiter: { max: options.limiter.max, duration: options.limiter.windowMs },
    lockDuration: options.lockDurationMs ?? 30_000,
    stalledInterval: options.stalledIntervalMs ?? 15_000,
    // A page re-run after a crash is harmless (upserts + compare-and-set checkpoint), so a job
    // may stall a few times before it is declared failed.
    maxStalledCount: 3,
    // No maxStartedAttempts: BullMQ counts the 429 re-runs in it, and a 429 must never fail a
    // page. The starts that are not holds are bounded already: `attempts` failed tries plus
    // `maxStalledCount` stalls (a crash loop), after which the job fails with BullMQ's reason.
    // Wake up at least this often while held by the limiter, so a shorter hold set by
    // another process is noticed.
    maximumRateLimitDelay: 5_000,
    // Seconds a drained worker blocks waiting for a job before it looks again; short, so a
    // wake-up that never comes (see holdQueue) costs at most this.
    drainDelay: 2,
    settings: {
      backoffStrategy: createBackoffStrategy(
        options.backoffBaseMs === undefined ? {} : { baseMs: options.backoffBaseMs },
      ),
    },
    autorun: false,
  });

  worker.on('failed', (job, error) => {
    if (job === undefined) return;
    // finishedOn is set only when BullMQ gave up on the job (no retry left, or unrecoverable).
    if (job.finishedOn === undefined) return;
    const parsed = crawlPagePayloadSchema.safeParse(job.data);
    const err = rootError(error);
    track(
      options
        .onFinalFailure({
          payload: parsed.success ? parsed.data : null,
          jobId: job.id ?? '(no id)',
          attempts: job.attemptsMade,
          error: err,
        })
        .catch((recordError: unknown) => {
          log.error({ err: recordError, jobId: job.id }, 'could not record a failed job');
        }),
    );
  });
  worker.on('stalled', (jobId) => {
    log.warn({ jobId }, 'job stalled (its worker died or hung); it runs again');
  });
  worker.on('error', (error) => {
    if (options.redisOutage?.report(error) === true) return;
    log.error({ err: { name: error.name, message: error.message } }, 'worker error');
  });

  void worker.run().catch((error: unknown) => {
    log.error({ err: error }, 'worker loop stopped');
  });
  await worker.waitUntilReady();

  return {
    provider: options.provider,
    queueName: queue.name,
    worker,
    queue,
    async close() {
      const errors: unknown[] = [];
      options.connection.off('ready', reassert);
      closing.abort();
      for (const timer of wakeTimers) clearTimeout(timer);
      wakeTimers.clear();
      // worker.close() waits for the pages in flight: their upserts, checkpoint and next job.
      await worker.close().catch((error: unknown) => errors.push(error));
      await Promise.allSettled([...pendingRecords]);
      await queue.close().catch((error: unknown) => errors.push(error));
      if (errors.length > 0) {
        throw new AggregateError(errors, `closing the ${queue.name} worker failed`);
      }
    },
  };
}
