import { databaseAnswers, openDatabase, sql } from '@birdfeed/db';
import {
  type CrawlPagePayload,
  createRedisConnection,
  enqueueFirstPage,
  type OutageLog,
  queueStatus,
} from '@birdfeed/jobs';
import {
  InvalidResponseError,
  RateLimitedError,
  TransientError,
  UnauthorizedError,
} from '@birdfeed/providers';
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type CrawlWorker,
  createCrawlWorker,
  DEADLINE_GRACE_MS,
} from '../apps/worker/src/crawl-worker.ts';
import type { FinalFailure, PageStep } from '../apps/worker/src/page-step.ts';
import { deleteRedisPrefix } from '../apps/worker/test/harness.ts';
import { switchableProxy } from './support/net.ts';
import { capturedDatabaseOutage } from './support/outage.ts';
import { createTestDatabase } from './support/postgres.ts';
import { TEST_REDIS_URL, testRedisPrefix } from './support/redis.ts';

/*
 * The worker's retry / rate-limit / stop policy over real Redis and real BullMQ. The crawl step
 * is scripted here (the subject is the transport); the full crawl against the sandbox and
 * Postgres is in worker-crawl.test.ts.
 */

let redis: Redis;
const open: Array<{ worker: CrawlWorker; prefix: string }> = [];

beforeAll(() => {
  redis = createRedisConnection({ url: TEST_REDIS_URL, role: 'worker' });
});
afterEach(async () => {
  for (const { worker, prefix } of open.splice(0)) {
    await worker.close();
    await deleteRedisPrefix(TEST_REDIS_URL, prefix);
  }
});
afterAll(async () => {
  await redis.quit();
});

function capturingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { logger, lines };
}

interface Harness {
  worker: CrawlWorker;
  failures: FinalFailure[];
  lines: Array<Record<string, unknown>>;
  prefix: string;
}

async function start(
  step: PageStep,
  extra: {
    max?: number;
    windowMs?: number;
    jobTimeoutMs?: number;
    resetMarginMs?: number;
    databaseOutage?: OutageLog;
    databaseDownHoldMs?: number;
    databaseAnswers?: () => Promise<boolean>;
    prefix?: string;
    rateLimitedTriesMax?: number;
  } = {},
) {
  const { logger, lines } = capturingLogger();
  const failures: FinalFailure[] = [];
  const prefix = extra.prefix ?? testRedisPrefix('policy');
  const worker = await createCrawlWorker({
    connection: redis,
    prefix,
    provider: 'x',
    limiter: { max: extra.max ?? 1000, windowMs: extra.windowMs ?? 60_000 },
    step,
    onFinalFailure: async (failure) => {
      failures.push(failure);
    },
    logger,
    concurrency: 2,
    backoffBaseMs: 20,
    jobTimeoutMs: extra.jobTimeoutMs ?? 5_000,
    ...(extra.resetMarginMs === undefined ? {} : { resetMarginMs: extra.resetMarginMs }),
    ...(extra.rateLimitedTriesMax === undefined
      ? {}
      : { rateLimitedTriesMax: extra.rateLimitedTriesMax }),
    ...(extra.databaseOutage === undefined ? {} : { databaseOutage: extra.databaseOutage }),
    ...(extra.databaseDownHoldMs === undefined
      ? {}
      : { databaseDownHoldMs: extra.databaseDownHoldMs }),
    ...(extra.databaseAnswers === undefined ? {} : { databaseAnswers: extra.databaseAnswers }),
  });
  open.push({ worker, prefix });
  return { worker, failures, lines, prefix } satisfies Harness;
}

const payload = (userId: string, runId = '1'): CrawlPagePayload => ({
  provider: 'x',
  userId,
  runId,
  kind: 'incremental',
  page: 0,
});

function waitFor<T>(probe: () => T | undefined | Promise<T | undefined>, ms = 30_000): Promise<T> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const tick = async () => {
      const value = await probe();
      if (value !== undefined) return resolve(value);
      if (Date.now() - started > ms) return reject(new Error('timed out waiting'));
      setTimeout(tick, 20);
    };
    void tick();
  });
}

async function finalState(worker: CrawlWorker, jobId: string) {
  return waitFor(async () => {
    const state = await worker.queue.getJobState(jobId);
    return state === 'completed' || state === 'failed' ? state : undefined;
  });
}

describe('worker policy', () => {
  it('an invalid payload fails at once (UnrecoverableError), no retry, no step call', async () => {
    let calls = 0;
    const h = await start(async () => {
      calls += 1;
      return { next: false };
    });
    const job = await h.worker.queue.add('crawl-page', {
      ...payload('5'),
      userId: 5 as unknown as string,
    });
    expect(await finalState(h.worker, job.id as string)).toBe('failed');
    const failed = (await h.worker.queue.getJob(job.id as string)) as Job;
    expect(failed.attemptsMade).toBe(1);
    expect(failed.failedReason).toMatch(/invalid payload: userId/);
    expect(calls).toBe(0);
    await waitFor(() => (h.failures.length > 0 ? true : undefined));
    expect(h.failures[0]?.payload).toBeNull();
  });

  it('a 429 holds the queue until the reset and runs the same job again, not as a failure', async () => {
    const starts: number[] = [];
    let resetAt = 0;
    const h = await start(async () => {
      starts.push(Date.now());
      if (starts.length <= 2) {
        resetAt = Date.now() + 400;
        throw new RateLimitedError('x', '429 Too Many Requests', {
          status: 429,
          resetAt: new Date(resetAt),
        });
      }
      return { next: false };
    });
    const { jobId } = await enqueueFirstPage(h.worker.queue, payload('6'));
    expect(await finalState(h.worker, jobId)).toBe('completed');
    const job = (await h.worker.queue.getJob(jobId)) as Job;
    // BullMQ counts the completion as an attempt: 1 = no failed attempt before it, while the
    // job was started three times.
    expect(job.attemptsMade).toBe(1);
    expect(job.attemptsStarted).toBe(3);
    expect(h.failures).toHaveLength(0);
    expect(starts).toHaveLength(3);
    // Each re-run waited for the provider's reset.
    expect((starts[1] as number) - (starts[0] as number)).toBeGreaterThanOrEqual(380);
    expect((starts[2] as number) - (starts[1] as number)).toBeGreaterThanOrEqual(380);
    // ...and not much longer (the hold is the reset + 250 ms; the bound leaves room for a
    // loaded machine, and would catch a hold taken from a wrong reset or never released).
    expect((starts[1] as number) - (starts[0] as number)).toBeLessThan(4_500);
    expect((starts[2] as number) - (starts[1] as number)).toBeLessThan(4_500);
  });

  it('a 429 that persists for many re-runs still re-runs the same job until it succeeds', async () => {
    // More 429s in a row than BullMQ's start cap the worker once set (40) and far more than
    // its attempts: each is a short hold (a reset already due), as a provider answering
    // Retry-After: 1 for a minute would give.
    const limited = 43;
    let calls = 0;
    const h = await start(
      async () => {
        calls += 1;
        if (calls <= limited) {
          throw new RateLimitedError('x', '429 Too Many Requests', {
            status: 429,
            resetAt: new Date(Date.now()),
          });
        }
        return { next: false };
      },
      { resetMarginMs: 0 },
    );
    const { jobId } = await enqueueFirstPage(h.worker.queue, payload('13'));
    expect(await finalState(h.worker, jobId)).toBe('completed');
    expect(calls).toBe(limited + 1);
    expect(h.failures).toHaveLength(0);
  });

  it('a page refused with 429 more times than the cap fails, saying why, with its attempts intact', async () => {
    let calls = 0;
    const h = await start(
      async () => {
        calls += 1;
        // One transient failure among them: an attempt, not a 429 try.
        if (calls === 2) throw new TransientError('x', '503 Service Unavailable', { status: 503 });
        throw new RateLimitedError('x', '429 Too Many Requests', {
          status: 429,
          resetAt: new Date(Date.now()),
        });
      },
      { resetMarginMs: 0, rateLimitedTriesMax: 4 },
    );
    const { jobId } = await enqueueFirstPage(h.worker.queue, payload('14'));
    expect(await finalState(h.worker, jobId)).toBe('failed');
    expect(calls).toBe(5);
    expect(h.failures).toHaveLength(1);
    expect(h.failures[0]?.error.message).toMatch(
      /429 Too Many Requests — 4 429s for this page, the cap \(4\): the provider keeps refusing/,
    );
    expect(h.lines.filter((l) => l.msg === 'page failed: rate-limited too often')).toHaveLength(1);
  });

  it('a transient error retries with backoff; the third attempt succeeds', async () => {
    let calls = 0;
    const h = await start(async () => {
      calls += 1;
      if (calls < 3) throw new TransientError('x', '503 Service Unavailable', { status: 503 });
      return { next: false };
    });
    const { jobId } = await enqueueFirstPage(h.worker.queue, payload('7'));
    expect(await finalState(h.worker, jobId)).toBe('completed');
    const job = (await h.worker.queue.getJob(jobId)) as Job;
    // Two failed attempts, then the completion.
    expect(job.attemptsMade).toBe(3);
    expect(h.failures).toHaveLength(0);
  });

  it('a page fetched with remaining 0 whose write then failed holds the queue until the reset before its retry', async () => {
    const starts: number[] = [];
    let resetAt = 0;
    const h = await start(async (_payload, context) => {
      starts.push(Date.now());
      if (starts.length === 1) {
        resetAt = Date.now() + 1_500;
        // The provider answered (its window spent), then the page's transaction failed.
        context.observeRateLimit?.({ limit: 10, remaining: 0, resetAt: new Date(resetAt) });
        throw Object.assign(new Error('deadlock detected'), { code: '40P01' });
      }
      return { next: false };
    });
    const { jobId } = await enqueueFirstPage(h.worker.queue, payload('70'));
    expect(await finalState(h.worker, jobId)).toBe('completed');
    expect(starts).toHaveLength(2);
    // The retry's backoff is 20 ms: only the hold makes it wait for the reset.
    expect(starts[1]).toBeGreaterThanOrEqual(resetAt);
  });

  it('Postgres away for longer than every retry holds the job; it keeps its attempts and the outage is one line', async () => {
    // The server goes away (connections ended, new ones refused, as in a restart) for more
    // pages in a row than the job's attempts; the step meets it through drizzle as the crawl
    // step does.
    const testDb = await createTestDatabase('policy_db_down');
    const proxy = await switchableProxy({ host: '127.0.0.1', port: 5432 });
    const database = await openDatabase({
      url: testDb.url.replace('127.0.0.1:5432', `127.0.0.1:${proxy.port}`),
      maxConnections: 2,
    });
    const { databaseOutage, lines: outageLines } = capturedDatabaseOutage('the queues are held');
    proxy.down();
    let calls = 0;
    try {
      const h = await start(
        async () => {
          calls += 1;
          if (calls === 11) proxy.up();
          await database.db.execute(sql`select 1`);
          return { next: false };
        },
        { databaseOutage, databaseDownHoldMs: 50 },
      );
      const { jobId } = await enqueueFirstPage(h.worker.queue, payload('14'));
      expect(await finalState(h.worker, jobId)).toBe('completed');
      const job = (await h.worker.queue.getJob(jobId)) as Job;
      expect(calls).toBe(11);
      expect(job.attemptsMade).toBe(1);
      // One start, as the queue's limiter (the provider's budget) counts them: the job was held
      // in its slot, not put back and picked again each time.
      expect(job.attemptsStarted).toBe(1);
      expect(Number(await redis.get(`${h.prefix}:${h.worker.queueName}:limiter`))).toBe(1);
      expect(h.failures).toHaveLength(0);
      expect(h.lines.filter((line) => (line.level as number) >= 40)).toEqual([]);
      expect(outageLines.map((line) => line.msg)).toEqual([
        'postgres unreachable: the queues are held (repeats of this error are counted, not logged)',
        'postgres reachable again',
      ]);
      expect(outageLines[0]?.err).toMatch(/Connection terminated|ECONNRESET/);
      expect(outageLines[1]?.errorsHeldBack).toBe(9);
    } finally {
      await database.close();
      await proxy.close();
      await testDb.drop();
    }
  });

  it('a page past its deadline while Postgres is silent (a partition) waits it out, no attempt counted', async () => {
    const { databaseOutage, lines: outageLines } = capturedDatabaseOutage('the queues are held');
    let calls = 0;
    let probes = 0;
    const h = await start(
      async () => {
        calls += 1;
        // A statement on a stalled connection: neither answers nor fails, whatever the signal.
        if (calls === 1) await new Promise(() => {});
        return { next: false };
      },
      {
        databaseOutage,
        databaseDownHoldMs: 50,
        jobTimeoutMs: 300,
        databaseAnswers: async () => {
          probes += 1;
          return probes > 2;
        },
      },
    );
    const { jobId } = await enqueueFirstPage(h.worker.queue, payload('17'));
    expect(await finalState(h.worker, jobId)).toBe('completed');
    const job = (await h.worker.queue.getJob(jobId)) as Job;
    expect(calls).toBe(2);
    expect(job.attemptsMade).toBe(1);
    expect(outageLines.map((line) => line.msg)).toEqual([
      'postgres unreachable: the queues are held (repeats of this error are counted, not logged)',
      'postgres reachable again',
    ]);
  });

  it('a worker stopped while it waits out an outage puts the job back, no attempt counted', async () => {
    const { databaseOutage } = capturedDatabaseOutage('the queues are held');
    let calls = 0;
    const h = await start(
      async () => {
        calls += 1;
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), {
          code: 'ECONNREFUSED',
        });
      },
      { databaseOutage, databaseDownHoldMs: 60_000, databaseAnswers: async () => false },
    );
    const { jobId } = await enqueueFirstPage(h.worker.queue, payload('16'));
    await waitFor(() => (calls > 0 ? true : undefined));
    const started = Date.now();
    await h.worker.close();
    expect(Date.now() - started).toBeLessThan(5_000);
    const job = (await h.worker.queue.getJob(jobId)) as Job;
    expect(await job.getState()).toBe('delayed');
    expect(job.attemptsMade).toBe(0);
    expect(h.failures).toHaveLength(0);
  });

  it('a connection lost while Postgres answers (an operator killed it) is the page failing: attempts count, it ends', async () => {
    // Held instead, such a page was fetched (and bought) again every hold, forever.
    const testDb = await createTestDatabase('policy_db_killed');
    const database = await openDatabase({ url: testDb.url, maxConnections: 2 });
    const { databaseOutage, lines: outageLines } = capturedDatabaseOutage('the queues are held');
    let fetches = 0;
    try {
      const h = await start(
        async () => {
          fetches += 1;
          await database.db.execute(sql`select pg_terminate_backend(pg_backend_pid())`);
          return { next: false };
        },
        {
          databaseOutage,
          databaseDownHoldMs: 50,
          databaseAnswers: () => databaseAnswers(testDb.url),
        },
      );
      const { jobId } = await enqueueFirstPage(h.worker.queue, payload('15'));
      expect(await finalState(h.worker, jobId)).toBe('failed');
      const job = (await h.worker.queue.getJob(jobId)) as Job;
      expect(job.attemptsMade).toBe(job.opts.attempts);
      expect(fetches).toBe(job.opts.attempts);
      await waitFor(() => (h.failures.length > 0 ? true : undefined));
      expect(h.failures[0]?.error.message).toMatch(/terminat/i);
      expect(outageLines).toEqual([]);
    } finally {
      await database.close();
      await testDb.drop();
    }
  });

  it('a page that hangs is aborted at its deadline and retried', async () => {
    const abortedAfter: number[] = [];
    let calls = 0;
    const h = await start(
      async (_payload, { signal }) => {
        calls += 1;
        if (calls === 1) {
          const started = Date.now();
          // A provider that never answers: the client gives up when the signal fires.
          await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
          abortedAfter.push(Date.now() - started);
          throw new TransientError('x', 'request aborted at the job deadline');
        }
        return { next: false };
      },
      { jobTimeoutMs: 300 },
    );
    const { jobId } = await enqueueFirstPage(h.worker.queue, payload('12'));
    expect(await finalState(h.worker, jobId)).toBe('completed');
    expect(calls).toBe(2);
    expect(abortedAfter[0]).toBeGreaterThanOrEqual(290);
    // Without the abort the step would never return; the bound leaves room for late timers.
    expect(abortedAfter[0]).toBeLessThan(5_000);
    expect(h.failures).toHaveLength(0);
  });

  it('a step alive past its deadline and grace is waited for, not run again beside it', async () => {
    // The page was bought and its write waits on a lock: a retry beside it would buy it again.
    let calls = 0;
    const h = await start(
      async () => {
        calls += 1;
        // Past the deadline and its grace (7 s), within the wait that follows (to 9 s).
        await new Promise((resolve) => setTimeout(resolve, 2_000 + DEADLINE_GRACE_MS + 1_000));
        return { next: false };
      },
      { jobTimeoutMs: 2_000 },
    );
    const { jobId } = await enqueueFirstPage(h.worker.queue, payload('13'));
    expect(await finalState(h.worker, jobId)).toBe('completed');
    expect(calls).toBe(1);
    expect(h.failures).toHaveLength(0);
    expect(h.lines.filter((l) => /finished after its deadline/.test(String(l.msg)))).toHaveLength(
      1,
    );
  }, 30_000);

  it('a worker stopped while it waits for a step past its deadline puts the job back, no attempt counted', async () => {
    let calls = 0;
    const h = await start(
      async () => {
        calls += 1;
        await new Promise((resolve) => setTimeout(resolve, 2_000 + DEADLINE_GRACE_MS + 3_000));
        return { next: false };
      },
      { jobTimeoutMs: 2_000 },
    );
    const { jobId } = await enqueueFirstPage(h.worker.queue, payload('16'));
    // Past the deadline and its grace (7 s): the worker now waits for the step.
    await new Promise((resolve) => setTimeout(resolve, 2_000 + DEADLINE_GRACE_MS + 500));
    const stoppedAt = Date.now();
    await h.worker.close();
    const job = await h.worker.queue.getJob(jobId);
    expect(await job?.getState()).toBe('delayed');
    expect(job?.attemptsMade).toBe(0);
    // Not before the old step's statements can have ended (one more job timeout).
    expect(job?.delay).toBeGreaterThan(1_000);
    expect(Date.now() - stoppedAt).toBeLessThan(10_000);
    expect(calls).toBe(1);
  }, 30_000);

  it('a step past its deadline while Postgres froze is not run again beside itself once Postgres thaws', async () => {
    let calls = 0;
    let running = 0;
    let maxRunning = 0;
    let thawed = false;
    let probes = 0;
    const h = await start(
      async () => {
        calls += 1;
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        try {
          // A statement on a frozen server (SIGSTOP, a stuck disk) neither answers nor fails,
          // then resumes and commits the page it bought once the server thaws.
          if (calls === 1) {
            while (!thawed) await new Promise((resolve) => setTimeout(resolve, 20));
            // Within statement_timeout (the job timeout) of the thaw.
            await new Promise((resolve) => setTimeout(resolve, 150));
          }
          return { next: false };
        } finally {
          running -= 1;
        }
      },
      {
        databaseDownHoldMs: 50,
        jobTimeoutMs: 300,
        databaseAnswers: async () => {
          probes += 1;
          if (probes > 2) thawed = true;
          return thawed;
        },
      },
    );
    const { jobId } = await enqueueFirstPage(h.worker.queue, payload('17'));
    expect(await finalState(h.worker, jobId)).toBe('completed');
    expect(calls).toBe(1);
    expect(maxRunning).toBe(1);
  }, 30_000);

  it('a worker that cannot put a job back delayed (its lock lost) says so', async () => {
    const h = await start(
      async () => {
        await new Promise((resolve) => setTimeout(resolve, 2_000 + DEADLINE_GRACE_MS + 3_000));
        return { next: false };
      },
      { jobTimeoutMs: 2_000 },
    );
    const { jobId } = await enqueueFirstPage(h.worker.queue, payload('18'));
    await new Promise((resolve) => setTimeout(resolve, 2_000 + DEADLINE_GRACE_MS + 500));
    // The lock is lost (a Redis failover, an event loop blocked past the lock's life).
    await redis.del(`${h.prefix}:${h.worker.queue.name}:${jobId}:lock`);
    await h.worker.close();
    expect(
      h.lines.filter((l) => /could not put the job back delayed/.test(String(l.msg))),
    ).toHaveLength(1);
  }, 30_000);

  it('a step that fails for good after its deadline is judged by that failure: no retry', async () => {
    let calls = 0;
    const h = await start(
      async () => {
        calls += 1;
        await new Promise((resolve) => setTimeout(resolve, 2_000 + DEADLINE_GRACE_MS + 1_000));
        throw new InvalidResponseError('x', 'data[0].id: expected string', {
          path: 'data[0].id',
          rawBody: '{"data":[{"id":1}]}',
          status: 200,
        });
      },
      { jobTimeoutMs: 2_000 },
    );
    const { jobId } = await enqueueFirstPage(h.worker.queue, payload('15'));
    expect(await finalState(h.worker, jobId)).toBe('failed');
    expect(calls).toBe(1);
    await waitFor(() => (h.failures.length > 0 ? true : undefined));
    expect(h.failures[0]?.error.name).toBe('InvalidResponseError');
  }, 30_000);

  it('an invalid body fails the job once, with the provider error on record', async () => {
    let calls = 0;
    const h = await start(async () => {
      calls += 1;
      throw new InvalidResponseError('x', 'data[0].id: expected string', {
        path: 'data[0].id',
        rawBody: '{"data":[{"id":1}]}',
        status: 200,
      });
    });
    const { jobId } = await enqueueFirstPage(h.worker.queue, payload('8', '42'));
    expect(await finalState(h.worker, jobId)).toBe('failed');
    expect(calls).toBe(1);
    await waitFor(() => (h.failures.length > 0 ? true : undefined));
    expect(h.failures[0]?.error.name).toBe('InvalidResponseError');
    expect(h.failures[0]?.payload?.runId).toBe('42');
  });

  it('401 pauses the provider queue, keeps the job and says so once', async () => {
    let calls = 0;
    const h = await start(async () => {
      calls += 1;
      throw new UnauthorizedError('x', '401 Unauthorized', { status: 401 });
    });
    const first = await enqueueFirstPage(h.worker.queue, payload('9'));
    const second = await enqueueFirstPage(h.worker.queue, payload('10'));
    await waitFor(async () => ((await h.worker.queue.isPaused()) ? true : undefined));
    // Both jobs go back to the (paused) queue; the second may still be in its first attempt
    // when the pause lands, so poll for it rather than assume a fixed delay is enough.
    const ids = [first.jobId, second.jobId];
    const states = await waitFor(async () => {
      const now = await Promise.all(ids.map((id) => h.worker.queue.getJobState(id)));
      return now.every((state) => state === 'waiting' || state === 'prioritized') ? now : undefined;
    }, 30_000).catch(async () => Promise.all(ids.map((id) => h.worker.queue.getJobState(id))));
    expect(
      states.every((state) => state === 'waiting' || state === 'prioritized'),
      String(states),
    ).toBe(true);
    // Paused means paused: a while later nothing else ran and nothing was said again.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(h.failures).toHaveLength(0);
    const loud = h.lines.filter((line) => line.level === 60);
    expect(loud).toHaveLength(1);
    expect(String(loud[0]?.msg)).toMatch(/REJECTED THE CREDENTIAL/);
    expect(calls).toBeLessThanOrEqual(2);
    const [status] = await queueStatus({ connection: redis, prefix: h.prefix });
    expect(status?.paused).toBe(true);
    expect(status?.pauseReason).toMatch(/^unauthorized/);
  });

  it('chains the pages of a run and keeps a second run of the target out while it is in flight', async () => {
    const seen: string[] = [];
    let h: Harness | undefined;
    const blocked: boolean[] = [];
    h = await start(async (p) => {
      seen.push(`${p.runId}/${p.page}`);
      if (p.runId === '1' && p.page === 1 && h !== undefined) {
        // A scheduler tick in the middle of the run: it must not start another.
        const again = await enqueueFirstPage(h.worker.queue, payload('11', '2'));
        blocked.push(!again.added);
      }
      return { next: p.runId === '1' && p.page < 3 };
    });
    const { jobId } = await enqueueFirstPage(h.worker.queue, payload('11', '1'));
    expect(jobId).toBe('x.11.1.0');
    expect(await finalState(h.worker, 'x.11.1.3')).toBe('completed');
    expect(seen).toEqual(['1/0', '1/1', '1/2', '1/3']);
    expect(blocked).toEqual([true]);
    // Once the run is over, the next one may start.
    const later = await enqueueFirstPage(h.worker.queue, payload('11', '3'));
    expect(later.added).toBe(true);
    expect(await finalState(h.worker, later.jobId)).toBe('completed');
  });

  it('a worker started in a window already spent says why it starts no page, and until when', async () => {
    // The limit was lowered from 15 to 10 after 12 pages of this window had started.
    const spent = testRedisPrefix('policy');
    await redis.set(`${spent}:crawl.x.default:limiter`, '12', 'PX', 30_000);
    const lowered = await start(async () => ({ next: false }), { max: 10, prefix: spent });
    const line = lowered.lines.find((l) =>
      l.msg === undefined ? false : /already started 12 pages, the limit is 10/.test(String(l.msg)),
    );
    expect(line).toMatchObject({ level: 40, used: 12, max: 10 });
    expect(line?.heldMs).toBeGreaterThan(20_000);
    expect(Date.parse(String(line?.until)) - Date.now()).toBeGreaterThan(20_000);

    // A 429 hold left by another process: named as a hold, not as pages started.
    const heldPrefix = testRedisPrefix('policy');
    await redis.set(
      `${heldPrefix}:crawl.x.default:limiter`,
      String(Number.MAX_SAFE_INTEGER),
      'PX',
      30_000,
    );
    const held = await start(async () => ({ next: false }), { max: 10, prefix: heldPrefix });
    expect(
      held.lines.filter((l) => /held until the provider resets/.test(String(l.msg))),
    ).toHaveLength(1);

    // A window with budget left (or none open) logs nothing of the kind.
    const fresh = await start(async () => ({ next: false }), { max: 10 });
    expect(fresh.lines.filter((l) => /already started|held until/.test(String(l.msg)))).toEqual([]);
  });

  it('a long-running worker keeps nothing per job on its own stop signal', async () => {
    // Node 20 keeps every AbortSignal.any() composed from a long-lived signal in that signal's
    // set of dependants until it aborts: one entry per job, for the life of the process.
    const dependants = (signal: AbortSignal): number | undefined => {
      const key = Object.getOwnPropertySymbols(signal).find((s) => String(s).includes('Dependant'));
      return key === undefined
        ? undefined
        : ((signal as unknown as Record<symbol, Set<unknown> | undefined>)[key]?.size ?? 0);
    };
    const source = new AbortController();
    AbortSignal.any([source.signal]);
    // The runtime must show the leak this test looks for, or the test would prove nothing.
    expect(dependants(source.signal), 'this Node keeps no set of dependant signals').toBe(1);

    // Every AbortController made while the worker is built: one of them is its `closing`.
    const created: AbortController[] = [];
    const Original = globalThis.AbortController;
    globalThis.AbortController = class extends Original {
      constructor() {
        super();
        created.push(this);
      }
    } as typeof AbortController;
    let h: Harness;
    let done = 0;
    try {
      h = await start(async () => {
        done += 1;
        return { next: false };
      });
    } finally {
      globalThis.AbortController = Original;
    }
    const jobs = 60;
    for (let i = 0; i < jobs; i += 1)
      await enqueueFirstPage(h.worker.queue, payload(String(500 + i)));
    const until = Date.now() + 30_000;
    while (done < jobs && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(done).toBe(jobs);
    expect(created.length).toBeGreaterThan(0);
    expect(Math.max(...created.map((c) => dependants(c.signal) ?? 0))).toBeLessThan(5);
  });

  it('queueStatus reports depth and the limiter budget left', async () => {
    const h = await start(async () => ({ next: false }), { max: 10, windowMs: 60_000 });
    for (const id of ['20', '21', '22']) {
      const { jobId } = await enqueueFirstPage(h.worker.queue, payload(id));
      expect(await finalState(h.worker, jobId)).toBe('completed');
    }
    const [status] = await queueStatus({ connection: redis, prefix: h.prefix });
    expect(status).toMatchObject({
      name: 'crawl.x.default',
      provider: 'x',
      waiting: 0,
      completed: 3,
      paused: false,
      limiter: { max: 10, windowMs: 60_000, used: 3, remaining: 7, rateLimited: false },
    });
    expect(status?.limiter.resetsInMs).toBeGreaterThan(50_000);
  });
});
