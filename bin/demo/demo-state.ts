import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

/**
 * What the demo keeps beside its database so a second run continues the same synthetic world:
 * the sandbox's seed and epoch (same seed + epoch = the same accounts and tweet ids) and how
 * far its clock had run. Without it a restarted sandbox would begin a new history, and the
 * stored checkpoints would point at tweets it never made.
 */
const stateSchema = z.object({
  version: z.literal(1),
  seed: z.string().min(1),
  epochMs: z.number().int(),
  sandboxNowMs: z.number().int(),
});
export type DemoState = z.infer<typeof stateSchema>;

export class DemoStateError extends Error {
  override readonly name = 'DemoStateError';
}

export function demoStatePath(home: string): string {
  return join(home, 'demo.json');
}

export function readDemoState(home: string): DemoState | null {
  let text: string;
  try {
    text = readFileSync(demoStatePath(home), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const parsed = stateSchema.safeParse(JSON.parse(text));
  if (!parsed.success) {
    throw new DemoStateError(
      `${demoStatePath(home)} is not a demo state file (${parsed.error.issues[0]?.message ?? 'invalid'}); move it away to start a new sandbox world`,
    );
  }
  return parsed.data;
}

/** Written to a temporary file and renamed, so a crash never leaves half a file. */
export function writeDemoState(home: string, state: DemoState): void {
  mkdirSync(home, { recursive: true });
  const path = demoStatePath(home);
  writeFileSync(`${path}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
}
