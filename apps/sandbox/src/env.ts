import { z } from 'zod';

/**
 * The sandbox process's environment (docker-compose sets these; flags override them). Parsed
 * once at start; a bad value stops the process with the variable's name.
 */
/**
 * A number in plain digits; empty = unset. `Number()` would read `SANDBOX_PORT=` as 0 (a
 * random port instead of 4010), `' '` as 0 accounts and `0x10` as 16.
 */
const plainNumber = (pattern: RegExp, example: string) =>
  z.preprocess(
    (value) => (typeof value === 'string' && value.trim() === '' ? undefined : value),
    z
      .string()
      .trim()
      .regex(pattern, `must be a number in plain digits, e.g. ${example}`)
      .transform(Number)
      .optional(),
  );
const plainInt = plainNumber(/^\d{1,15}$/, '4010');

export const sandboxEnvSchema = z.object({
  SANDBOX_PORT: plainInt.pipe(z.number().max(65535).optional()),
  SANDBOX_HOST: z.string().min(1).optional(),
  SANDBOX_ACCOUNTS: plainInt,
  SANDBOX_SEED: z.string().min(1).optional(),
  SANDBOX_TIME_SCALE: plainNumber(/^\d{1,15}(\.\d{1,15})?$/, '60 or 0.5').pipe(
    z.number().positive().optional(),
  ),
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
