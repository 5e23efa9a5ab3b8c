import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ADMIN_DATABASE_URL } from './support/postgres.ts';
import { TEST_REDIS_URL, testRedisPrefix } from './support/redis.ts';
import { type CliRun, runCli } from './support/run-cli.ts';

/**
 * A DATABASE_URL that cannot be used, through the real entry point (bin/birdfeed.ts, whose
 * dispatcher decides what is a setup error and what is a bug): one line naming DATABASE_URL
 * without its password and the driver's reason, exit 1, no stack.
 */

function birdfeed(args: string[], databaseUrl: string): Promise<CliRun> {
  return runCli('birdfeed', args, {
    DATABASE_URL: databaseUrl,
    X_BEARER_TOKEN: 'x-token-never-shown',
  });
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

const COMMANDS: string[][] = [
  ['status'],
  ['watchlist', 'add', '5'],
  ['watchlist', 'list'],
  ['crawl', '--once'],
  ['migrate'],
];

function expectOneSetupLine(run: CliRun, command: string[], reason: RegExp): void {
  const what = command.join(' ');
  expect(run.code, `${what}: ${run.stderr}`).toBe(1);
  const lines = run.stderr.trimEnd().split('\n');
  expect(lines, `${what}: ${run.stderr}`).toHaveLength(1);
  const [line] = lines;
  expect(line).toMatch(new RegExp(`^birdfeed ${command[0]}: cannot connect to DATABASE_URL=`));
  expect(line).toMatch(reason);
  expect(run.stderr).not.toMatch(/Failed query|\n\s+at /);
}

describe('a DATABASE_URL that cannot be used', () => {
  it('names the database that does not exist, for every command that opens it', async () => {
    const url = new URL(ADMIN_DATABASE_URL);
    const name = `bf_missing_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
    url.pathname = `/${name}`;
    const runs = await Promise.all(COMMANDS.map((command) => birdfeed(command, url.toString())));
    runs.forEach((run, i) => {
      expectOneSetupLine(run, COMMANDS[i] ?? [], new RegExp(`database "${name}" does not exist`));
    });
  });

  it('a refused connection: the address without its password, and the reason', async () => {
    const port = await closedPort();
    const url = `postgres://postgres:pw-secret-4711@127.0.0.1:${port}/birdfeed`;
    const runs = await Promise.all(COMMANDS.map((command) => birdfeed(command, url)));
    runs.forEach((run, i) => {
      expectOneSetupLine(run, COMMANDS[i] ?? [], /ECONNREFUSED/);
      expect(run.stderr).toContain(`postgres://postgres:***@127.0.0.1:${port}/birdfeed`);
      expect(run.stdout + run.stderr).not.toContain('pw-secret-4711');
      expect(run.stdout + run.stderr).not.toContain('x-token-never-shown');
    });
  });

  it('a port that is not one (?port=abc, ?port=70000): every command stops at once naming DATABASE_URL', async () => {
    // These printed nothing and exited 0 (the connection check waited on a socket that never
    // existed), or, with Redis to keep them alive, crashed 10 s later (scheduler) or after 60 s
    // of silence (worker) with pg's unhandled "timeout expired".
    const url = new URL(ADMIN_DATABASE_URL);
    url.pathname = '/never_connected';
    const runs: [string[], string][] = [
      ...[
        ...COMMANDS,
        ['prune', '--raw-pages', '90d', '--dry-run'],
        ['ingest', '--provider', 'x', 'page.json'],
        ['scheduler', '--once'],
        ['worker'],
      ].map((command): [string[], string] => [command, 'abc']),
      [['status'], '70000'],
      [['worker'], '70000'],
    ];
    const env = {
      X_BEARER_TOKEN: 'x-token-never-shown',
      REDIS_URL: TEST_REDIS_URL,
      BIRDFEED_QUEUE_PREFIX: testRedisPrefix('bad_db_port'),
    };
    // A few at a time: each is a Node start on a shared machine.
    for (let i = 0; i < runs.length; i += 3) {
      await Promise.all(
        runs.slice(i, i + 3).map(async ([command, port]) => {
          const started = Date.now();
          const run = await runCli('birdfeed', command, {
            ...env,
            DATABASE_URL: `${url.href}?port=${port}`,
          });
          const what = `${command.join(' ')} (port ${port}): ${run.stderr}`;
          expect(run.code, what).toBe(1);
          expect(run.stderr, what).toBe(
            `birdfeed ${command[0]}: invalid environment:\n  DATABASE_URL: its ?port="${port}" is not a TCP port (1 to 65535, in plain digits)\n`,
          );
          expect(run.stdout, what).toBe('');
          expect(Date.now() - started, what).toBeLessThan(15_000);
        }),
      );
    }
  }, 180_000);
});

describe('a command that never finishes', () => {
  const NEVER_SETTLES = fileURLToPath(
    new URL('./fixtures/pg-connect-never-settles.mjs', import.meta.url),
  );

  it('says so and exits 1, where node ended it with exit code 0 and nothing printed', async () => {
    const url = new URL(ADMIN_DATABASE_URL);
    url.pathname = '/never_connected';
    for (const command of [['migrate'], ['watchlist', 'list']]) {
      const run = await runCli('birdfeed', command, {
        DATABASE_URL: url.href,
        NODE_OPTIONS: `--import ${NEVER_SETTLES}`,
      });
      expect(run.code, run.stderr).toBe(1);
      expect(run.stderr).toBe(
        `birdfeed ${command[0]}: internal error: the command did not finish (it was waiting for something that can no longer happen); this is a bug\n`,
      );
    }
  });
});
