import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ENTRIES = {
  /** bin/birdfeed.ts: the dispatcher a user runs (its usage and setup-error printing too). */
  birdfeed: fileURLToPath(new URL('../../bin/birdfeed.ts', import.meta.url)),
  /** One command module, run as bin/birdfeed.ts runs it (test/support/crawl-cli.ts). */
  command: fileURLToPath(new URL('./crawl-cli.ts', import.meta.url)),
} as const;

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a birdfeed command in a child process, as a user would, with exactly `env` plus PATH:
 * never the test runner's own environment (its DATABASE_URL, tokens…).
 */
export function runCli(
  entry: keyof typeof ENTRIES,
  args: string[],
  env: Record<string, string>,
): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', ENTRIES[entry], ...args],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
