import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The BullMQ topology of the demo: `birdfeed scheduler` and `birdfeed worker` as child
 * processes, exactly the commands an operator runs (and docker-compose.yml starts), with their
 * environment pointed at the demo's sandbox and database. Their logs go to files under
 * .birdfeed/logs so the terminal keeps the progress view.
 */
const DEFAULT_BIN = fileURLToPath(new URL('../birdfeed.ts', import.meta.url));
/** The CLI entry that started this demo (so a wrapper or a copy starts its own children). */
const BIN =
  process.argv[1] !== undefined && /birdfeed[^/]*\.ts$/.test(process.argv[1])
    ? process.argv[1]
    : DEFAULT_BIN;
/** Runs the CLI and stops it when the demo is gone (see child-entry.ts). */
const ENTRY = fileURLToPath(new URL('./child-entry.ts', import.meta.url));
/** The repository root: `--import tsx` resolves tsx from the working directory. */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface DemoChild {
  name: string;
  process: ChildProcess;
  logPath: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface SpawnChildOptions {
  name: string;
  command: 'scheduler' | 'worker';
  args: string[];
  env: NodeJS.ProcessEnv;
  logDir: string;
}

export function spawnChild(options: SpawnChildOptions): DemoChild {
  mkdirSync(options.logDir, { recursive: true });
  const logPath = join(options.logDir, `${options.name}.log`);
  const log: WriteStream = createWriteStream(logPath, { flags: 'a' });
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', ENTRY, BIN, options.command, ...options.args],
    // A process group of its own: the terminal's Ctrl-C goes to the demo only, which then
    // sends each child exactly one SIGTERM (a second signal would make it exit at once).
    {
      cwd: ROOT,
      env: { ...options.env, BIRDFEED_DEMO_PARENT_PID: String(process.pid) },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    },
  );
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  const exited = once(child, 'exit').then(([code, signal]) => {
    log.end();
    return { code: code as number | null, signal: signal as NodeJS.Signals | null };
  });
  return { name: options.name, process: child, logPath, exited };
}

/**
 * SIGTERM to each (they finish the page in flight and exit), then SIGKILL whoever is still
 * there after `graceMs`. Resolves when all have exited; never throws.
 */
export async function stopChildren(children: DemoChild[], graceMs = 15_000): Promise<string[]> {
  const problems: string[] = [];
  for (const child of children) {
    if (child.process.exitCode === null && child.process.signalCode === null) {
      child.process.kill('SIGTERM');
    }
  }
  const timer = setTimeout(() => {
    for (const child of children) {
      if (child.process.exitCode === null && child.process.signalCode === null) {
        problems.push(`${child.name} did not stop within ${graceMs / 1000}s: killed`);
        child.process.kill('SIGKILL');
      }
    }
  }, graceMs);
  const results = await Promise.all(children.map((child) => child.exited));
  clearTimeout(timer);
  results.forEach((result, i) => {
    const child = children[i] as DemoChild;
    // 0 = clean; SIGINT/SIGTERM-exit codes (130/143) when the terminal's Ctrl-C reached it first.
    if (result.code !== 0 && result.code !== 130 && result.code !== 143 && result.signal === null) {
      problems.push(`${child.name} exited with code ${result.code} (see ${child.logPath})`);
    }
  });
  return problems;
}
