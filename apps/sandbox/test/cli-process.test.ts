import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { type AddressInfo, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { X_TOKEN } from './helpers.ts';

const RUNNER = fileURLToPath(new URL('./fixtures/run-main.ts', import.meta.url));

function start(args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', RUNNER, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  return { child, out: () => stdout, err: () => stderr };
}

describe('birdfeed sandbox (the process)', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`serves, then stops cleanly on ${signal}`, async () => {
      const run = start(['--port', '0', '--accounts', '5', '--frozen', '--seed', 'cli']);
      const exited = once(run.child, 'close');
      try {
        // node + tsx + the sandbox take seconds to start on a loaded machine.
        const deadline = Date.now() + 45_000;
        while (
          !run.out().includes('try:') &&
          run.child.exitCode === null &&
          Date.now() < deadline
        ) {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        const url = /listening on (http:\/\/\S+)/.exec(run.out())?.[1];
        expect(url, run.err()).toBeDefined();
        const id = /^\s+(\d+)\s+@/m.exec(run.out())?.[1];
        const page = await fetch(`${url}/2/users/${id}/tweets`, {
          headers: { authorization: `Bearer ${X_TOKEN}` },
        });
        expect(page.status).toBe(200);
        run.child.kill(signal);
        const [code] = await exited;
        expect(code).toBe(0);
        expect(run.out()).toContain(`${signal}, stopping`);
        await expect(fetch(`${url}/_sandbox/health`)).rejects.toThrow();
      } finally {
        // A failed case must not leave its sandbox serving.
        if (run.child.exitCode === null && run.child.signalCode === null) {
          run.child.kill('SIGKILL');
          await exited;
        }
      }
    });
  }

  it('exits 2 with a readable message on a bad flag', async () => {
    const run = start(['--faults', 'kaboom:1']);
    const [code] = await once(run.child, 'close');
    expect(code).toBe(2);
    expect(run.err()).toContain('unknown kind "kaboom"');
    expect(run.err()).toContain('usage: birdfeed sandbox');
  });

  it('exits 1 with one line, no stack, on a port another process holds', async () => {
    const holder = createServer();
    holder.listen(0, '127.0.0.1');
    await once(holder, 'listening');
    const { port } = holder.address() as AddressInfo;
    try {
      const run = start(['--port', String(port), '--accounts', '5']);
      const [code] = await once(run.child, 'close');
      expect(code).toBe(1);
      expect(run.err()).toBe(
        `birdfeed sandbox: cannot listen on 127.0.0.1:${port} (--host, --port): address already in use (another sandbox or a running demo?)\n`,
      );
    } finally {
      holder.close();
    }
  });
});
