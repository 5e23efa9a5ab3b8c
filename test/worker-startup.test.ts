import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { spawnApp as spawnAppProcess } from '../apps/worker/test/harness.ts';
import { freePort } from './support/net.ts';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';
import { TEST_REDIS_URL, testRedisPrefix } from './support/redis.ts';

/** `birdfeed worker` and `birdfeed scheduler` refuse to start, saying why, before any job. */

let empty: TestDatabase;

beforeAll(async () => {
  empty = await createTestDatabase('startup_empty');
});
afterAll(async () => {
  await empty?.drop();
});

const baseEnv = () => ({
  PATH: process.env.PATH ?? '',
  REDIS_URL: TEST_REDIS_URL,
  BIRDFEED_QUEUE_PREFIX: testRedisPrefix('startup'),
  X_BEARER_TOKEN: 'a-secret-token-987',
});

/**
 * These processes are expected to refuse to start; one that starts instead would never exit and
 * outlive the run (a timed-out test runs no finally), so each is killed when its test ends.
 */
const spawnApp: typeof spawnAppProcess = (...args) => {
  const app = spawnAppProcess(...args);
  onTestFinished(() => {
    if (app.child.exitCode === null && app.child.signalCode === null) app.child.kill('SIGKILL');
  });
  return app;
};

describe('start-up checks', () => {
  it('a database without the birdfeed tables: run `birdfeed migrate` first', async () => {
    for (const command of ['worker', 'scheduler'] as const) {
      const app = spawnApp(command, command === 'scheduler' ? ['--once'] : [], {
        ...baseEnv(),
        DATABASE_URL: empty.url,
      });
      expect(await app.exited).toBe(1);
      expect(app.output()).toMatch(/refusing to start: .*run `pnpm birdfeed migrate` first/);
    }
  });

  it('a database that does not answer: the address (without password) and the error', async () => {
    const port = await freePort();
    const app = spawnApp('worker', [], {
      ...baseEnv(),
      DATABASE_URL: `postgres://postgres:pw-secret@127.0.0.1:${port}/nowhere`,
    });
    expect(await app.exited).toBe(1);
    expect(app.output()).toMatch(
      /refusing to start: cannot use the database at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1/,
    );
    expect(app.output()).not.toContain('pw-secret');
    expect(app.output()).not.toContain('a-secret-token-987');
  });

  it('no credential for the provider asked for', async () => {
    const app = spawnApp('worker', ['--provider', 'agntdata'], {
      ...baseEnv(),
      DATABASE_URL: empty.url,
    });
    expect(await app.exited).toBe(1);
    expect(app.output()).toMatch(/--provider agntdata needs AGNTDATA_API_KEY/);
  });

  it('a bad argument: usage and exit 2', async () => {
    const app = spawnApp('worker', ['--concurrency', 'lots'], baseEnv());
    expect(await app.exited).toBe(2);
    expect(app.output()).toMatch(/--concurrency "lots": must be an integer/);
    expect(app.output()).toMatch(/usage: birdfeed worker/);
  });
});
