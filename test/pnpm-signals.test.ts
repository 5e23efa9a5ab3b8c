import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BUSY = fileURLToPath(new URL('./fixtures/busy-after-listening.mjs', import.meta.url));

/**
 * `pnpm birdfeed <command>` and `pnpm demo` are how the README starts every long-running
 * process. Ctrl-C must reach the command's own shutdown (a worker finishes its page, the demo
 * closes its PGlite files) even when the process is busy: tsx's CLI, as the script's runner,
 * SIGKILLed a child that did not acknowledge the signal within ~60 ms.
 */
describe('Ctrl-C on `pnpm birdfeed` while its event loop is busy', () => {
  it("runs the command's own shutdown", async () => {
    const child = spawn('pnpm', ['birdfeed', 'sandbox', '--port', '0'], {
      cwd: ROOT,
      env: { ...process.env, NODE_OPTIONS: `--import ${BUSY}` },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const closed = once(child, 'close');
    // The finally below never runs when the test times out on `await closed`: the detached
    // group (pnpm, node, the sandbox) would outlive the run.
    onTestFinished(() => {
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {}
    });
    try {
      const deadline = Date.now() + 60_000;
      while (!output.includes('listening on') && child.exitCode === null) {
        if (Date.now() > deadline) throw new Error(`the sandbox did not start:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
      // The terminal's Ctrl-C: SIGINT to the whole foreground process group.
      process.kill(-(child.pid as number), 'SIGINT');
      await closed;
      expect(output).toContain('birdfeed sandbox: SIGINT, stopping');
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-(child.pid as number), 'SIGKILL');
        } catch {}
      }
    }
  }, 90_000);
});
