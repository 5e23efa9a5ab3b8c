import type { z } from 'zod';
import { credentialLabel, envSchema, parseEnvWith, positiveInt } from '../../../bin/env.ts';

/** The scheduler's environment: the shared `birdfeed` schema plus its own knobs. */
export const schedulerEnvSchema = envSchema.extend({
  /** Targets claimed per tick at most; the rest stay due for the next tick. */
  SCHEDULER_BATCH: positiveInt(500),
  /** Must match the workers': the queue a provider's jobs go to is named after it. */
  X_CREDENTIAL_LABEL: credentialLabel,
  AGNTDATA_CREDENTIAL_LABEL: credentialLabel,
});

export type SchedulerEnv = z.infer<typeof schedulerEnvSchema>;

export function parseSchedulerEnv(source: NodeJS.ProcessEnv = process.env): SchedulerEnv {
  return parseEnvWith(schedulerEnvSchema, source);
}
