import { z } from 'zod';
import { optionalInt } from '../../../bin/env.ts';

/**
 * A decimal in plain digits; empty = unset, as for every birdfeed variable (`Number()` reads
 * `' '` as 0 and `0x10` as 16). Integers use bin/env.ts's optionalInt.
 */
const plainDecimal = z.preprocess(
  (value) => (typeof value === 'string' && value.trim() === '' ? undefined : value),
  z
    .string()
    .trim()
    .regex(/^\d{1,15}(\.\d{1,15})?$/, 'must be a number in plain digits, e.g. 60 or 0.5')
    .transform(Number)
    .optional(),
);

/**
 * The sandbox process's environment (docker-compose sets these; flags override them). Parsed
 * once at start; a bad value stops the process with the variable's name.
 */
export const sandboxEnvSchema = z.object({
  SANDBOX_PORT: optionalInt(0, 65535),
  SANDBOX_HOST: z.string().min(1).optional(),
  SANDBOX_ACCOUNTS: optionalInt(0),
  SANDBOX_SEED: z.string().min(1).optional(),
  SANDBOX_TIME_SCALE: plainDecimal.pipe(z.number().positive().optional()),
  SANDBOX_FAULTS: z.string().optional(),
  SANDBOX_AGNTDATA_ENVELOPED: z
    .enum(['0', '1', 'true', 'false'])
    .transform((value) => value === '1' || value === 'true')
    .optional(),
});

export type SandboxEnv = z.infer<typeof sandboxEnvSchema>;

export function parseSandboxEnv(source: NodeJS.ProcessEnv): SandboxEnv {
  const result = sandboxEnvSchema.safeParse(source);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
    throw new RangeError(`invalid sandbox environment:\n${lines.join('\n')}`);
  }
  return result.data;
}
