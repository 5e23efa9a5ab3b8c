import type { z } from 'zod';
import {
  credentialLabel,
  envSchema,
  optionalInt,
  parseEnvWith,
  positiveInt,
} from '../../../bin/env.ts';

/**
 * The worker's environment: the shared `birdfeed` schema plus the knobs only a worker has.
 * Parsed once at start; a bad value stops the process with the variable's name.
 */
export const workerEnvSchema = envSchema.extend({
  /** Pages in flight per worker process and provider. */
  WORKER_CONCURRENCY: positiveInt(4),
  /** Per-page deadline: the AbortSignal handed to the provider client fires after this. */
  WORKER_JOB_TIMEOUT_MS: positiveInt(60_000),
  /** A killed worker's job is taken again after about this long (plus one stalled interval). */
  WORKER_LOCK_DURATION_MS: positiveInt(30_000),
  WORKER_STALLED_INTERVAL_MS: positiveInt(15_000),
  /** Base of the exponential retry delay for 5xx/timeouts; unset = the job catalog's (1 s). */
  WORKER_BACKOFF_BASE_MS: optionalInt(1),
  /** Tweets asked per X page (5..100). */
  WORKER_X_PAGE_SIZE: optionalInt(5, 100).transform((value) => value ?? 100),
  /** Results asked per agntdata page (1..100). */
  WORKER_AGNTDATA_PAGE_SIZE: optionalInt(1, 100).transform((value) => value ?? 20),
  /** Names (not the tokens) of the credentials: one queue and one limiter per credential. */
  X_CREDENTIAL_LABEL: credentialLabel,
  AGNTDATA_CREDENTIAL_LABEL: credentialLabel,
});

export type WorkerEnv = z.infer<typeof workerEnvSchema>;

export function parseWorkerEnv(source: NodeJS.ProcessEnv = process.env): WorkerEnv {
  return parseEnvWith(workerEnvSchema, source);
}
