import { z } from 'zod';
import { EnvError, envSchema } from '../../../bin/env.ts';

/** The scheduler's environment: the shared `birdfeed` schema plus its own knobs. */
const credentialLabel = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9_-]{0,39}$/,
    'a-z, 0-9, - or _ (a name for the credential, not the token)',
  )
  .default('default');

export const schedulerEnvSchema = envSchema.extend({
  /** Targets claimed per tick at most; the rest stay due for the next tick. */
  SCHEDULER_BATCH: z.coerce.number().int().positive().default(500),
  /** Must match the workers': the queue a provider's jobs go to is named after it. */
  X_CREDENTIAL_LABEL: credentialLabel,
  AGNTDATA_CREDENTIAL_LABEL: credentialLabel,
});

export type SchedulerEnv = z.infer<typeof schedulerEnvSchema>;

export function parseSchedulerEnv(source: NodeJS.ProcessEnv = process.env): SchedulerEnv {
  const result = schedulerEnvSchema.safeParse(source);
  if (!result.success) {
    const lines = result.error.issues.map(
      (issue) => `  ${issue.path.join('.') || '(environment)'}: ${issue.message}`,
    );
    throw new EnvError(`invalid environment:\n${lines.join('\n')}`);
  }
  return result.data;
}
