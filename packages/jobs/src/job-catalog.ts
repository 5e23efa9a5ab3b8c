import { UnrecoverableError } from 'bullmq';
import { z } from 'zod';
import { CRAWL_BACKOFF_TYPE } from './backoff.ts';

/**
 * The job catalog: every job name birdfeed puts on a queue, with the zod schema of its payload
 * and its retry policy. Producers (the scheduler, the worker enqueuing the next page) and the
 * consumer (the worker) read the same entry, so a payload and its handler cannot drift apart.
 */

/** Snowflakes exceed 2^53: ids travel as decimal strings, never as JSON numbers. */
const decimalId = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,19})$/, 'must be a decimal id string (no sign, no leading zero)');

export const crawlPagePayloadSchema = z.object({
  provider: z.enum(['x', 'agntdata']),
  userId: decimalId,
  /** The crawl_runs row this page belongs to. */
  runId: decimalId,
  kind: z.enum(['backfill', 'incremental']),
  /** 0-based index of the page inside the run; part of the job id. */
  page: z.number().int().nonnegative(),
});

export type CrawlPagePayload = z.infer<typeof crawlPagePayloadSchema>;

export interface JobDefinition<S extends z.ZodType = z.ZodType> {
  payload: S;
  /** Attempts counted against failures (5xx, timeouts); 429 retries are not counted here. */
  attempts: number;
  backoff: { type: string; delay: number };
  /** Per-job deadline: the handler's AbortSignal fires after this long. */
  timeoutMs: number;
}

export const jobCatalog = {
  'crawl-page': {
    payload: crawlPagePayloadSchema,
    attempts: 8,
    backoff: { type: CRAWL_BACKOFF_TYPE, delay: 1_000 },
    timeoutMs: 60_000,
  },
} as const satisfies Record<string, JobDefinition>;

export type JobName = keyof typeof jobCatalog;
export type JobPayload<N extends JobName> = z.infer<(typeof jobCatalog)[N]['payload']>;

export const JOB_NAMES = Object.keys(jobCatalog) as JobName[];

export function isJobName(name: string): name is JobName {
  return Object.hasOwn(jobCatalog, name);
}

/**
 * Validates a job as it leaves the queue. A payload that does not parse will not parse on the
 * next attempt either, so this throws BullMQ's UnrecoverableError (the job fails at once,
 * visibly) instead of burning every retry on it.
 */
export function parseJob<N extends JobName>(
  name: string,
  data: unknown,
  expected?: N,
): { name: N; payload: JobPayload<N> } {
  if (!isJobName(name) || (expected !== undefined && name !== expected)) {
    throw new UnrecoverableError(
      `job name ${JSON.stringify(name)} is not in the job catalog${expected === undefined ? '' : ` (this queue runs "${expected}")`}`,
    );
  }
  const result = jobCatalog[name].payload.safeParse(data);
  if (!result.success) {
    const problems = result.error.issues
      .map((issue) => `${issue.path.join('.') || '(payload)'}: ${issue.message}`)
      .join('; ');
    throw new UnrecoverableError(`job "${name}" has an invalid payload: ${problems}`);
  }
  return { name: name as N, payload: result.data as JobPayload<N> };
}

/** Validates a payload before it is enqueued: a producer bug fails where it happens. */
export function validatePayload<N extends JobName>(name: N, data: JobPayload<N>): JobPayload<N> {
  const result = jobCatalog[name].payload.safeParse(data);
  if (!result.success) {
    const problems = result.error.issues
      .map((issue) => `${issue.path.join('.') || '(payload)'}: ${issue.message}`)
      .join('; ');
    throw new TypeError(`refusing to enqueue "${name}" with an invalid payload: ${problems}`);
  }
  return result.data as JobPayload<N>;
}
