import { z } from 'zod';

/**
 * The sandbox process's environment (docker-compose sets these; flags override them). Parsed
 * once at start; a bad value stops the process with the variable's name.
 */
const optionalNumber = z.coerce.number().optional();

export const sandboxEnvSchema = z.object({
  SANDBOX_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  SANDBOX_HOST: z.string().min(1).optional(),
  SANDBOX_ACCOUNTS: z.coerce.number().int().nonnegative().optional(),
  SANDBOX_SEED: z.string().min(1).optional(),
  SANDBOX_TIME_SCALE: optionalNumber.pipe(z.number().positive().optional()),
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
