import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { migrate, openDatabase, rowsOf, sql, upsertPage, upsertTarget } from '@birdfeed/db';
import { RedisPolicyError } from '@birdfeed/jobs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSandbox, startSandbox } from '../apps/sandbox/src/index.ts';
import { demoQueuePrefix, parseDemoOptions } from '../bin/demo/demo-options.ts';
import {
  loadDemoWatchlist,
  pickDemoTargets,
  sandboxAccountsFor,
} from '../bin/demo/demo-watchlist.ts';
import { readProgress, renderProgressBlock } from '../bin/demo/progress.ts';
import {
  chooseQueueMode,
  LOCAL_REDIS_URL,
  pingRedis,
  RedisUnreachableError,
} from '../bin/demo/redis-probe.ts';
import { EnvError } from '../bin/env.ts';
import { page, tweet } from '../packages/db/test/support/pages.ts';
import { freePort } from './support/net.ts';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';
import { TEST_REDIS_URL } from './support/redis.ts';
import { runCli } from './support/run-cli.ts';

describe('demo options', () => {
  it('defaults: auto Redis, PGlite under ./.birdfeed, the fixed demo ports', () => {
    const options = parseDemoOptions([], {}, '/somewhere');
    expect(options).toMatchObject({
      redis: { kind: 'auto' },
      home: '/somewhere/.birdfeed',
      pgPort: 5433,
      sandboxPort: 4010,
      accounts: 12,
      timeScale: 60,
      everySeconds: 15,
      watchlistOnly: false,
      databaseUrl: undefined,
    });
  });

  it('flags win over variables; BIRDFEED_DEMO_REDIS=off forces the in-process queue', () => {
    const fromEnv = parseDemoOptions(
      [],
      { BIRDFEED_DEMO_REDIS: 'off', BIRDFEED_HOME: 'data', BIRDFEED_DEMO_PG_PORT: '0' },
      '/x',
    );
    expect(fromEnv).toMatchObject({ redis: { kind: 'off' }, home: '/x/data', pgPort: 0 });
    const fromFlags = parseDemoOptions(
      ['--redis', 'redis://10.0.0.1:6380', '--home', '/abs', '--every', '2m', '--pg-port', '6543'],
      { BIRDFEED_DEMO_REDIS: 'off', BIRDFEED_HOME: 'data' },
      '/x',
    );
    expect(fromFlags).toMatchObject({
      redis: { kind: 'url', url: 'redis://10.0.0.1:6380' },
      home: '/abs',
      everySeconds: 120,
      pgPort: 6543,
    });
  });

  it('queue prefix: one per home directory unless BIRDFEED_QUEUE_PREFIX is set', () => {
    const prefixOf = (argv: string[], env: NodeJS.ProcessEnv, cwd: string) => {
      const options = parseDemoOptions(argv, env, cwd);
      if (options === 'help') throw new Error('unexpected help');
      return options.queuePrefix;
    };
    // Two demos, or a demo beside a local birdfeed, on one auto-found Redis must not share
    // queues: with the production default `birdfeed` each one's workers took the other's jobs.
    const here = prefixOf([], {}, '/work/a');
    expect(here).toMatch(/^birdfeed-demo-[0-9a-f]{10}$/);
    expect(here).toBe(demoQueuePrefix('/work/a/.birdfeed'));
    expect(prefixOf([], {}, '/work/b')).not.toBe(here);
    // The same directory however it is named keeps its prefix (a second run finds its jobs).
    expect(prefixOf(['--home', '/work/a/.birdfeed'], {}, '/elsewhere')).toBe(here);
    expect(prefixOf([], { BIRDFEED_HOME: '../a/.birdfeed/' }, '/work/b')).toBe(here);
    // A prefix the user chose wins, even the production one.
    expect(prefixOf([], { BIRDFEED_QUEUE_PREFIX: 'birdfeed' }, '/work/a')).toBe('birdfeed');
    expect(prefixOf([], { BIRDFEED_QUEUE_PREFIX: 'mine' }, '/work/a')).toBe('mine');
  });

  it('refuses bad values, naming the flag or variable', () => {
    expect(() => parseDemoOptions(['--redis', 'maybe'], {})).toThrow(/--redis: expected auto/);
    expect(() => parseDemoOptions(['--every', '3s'], {})).toThrow(/--every: between 10s/);
    expect(() => parseDemoOptions(['--accounts', 'lots'], {})).toThrow(/--accounts/);
    expect(() => parseDemoOptions(['--bogus'], {})).toThrow(/bogus/);
    expect(() => parseDemoOptions(['--accounts', '4', '--accounts', '8'], {})).toThrow(
      /--accounts given twice/,
    );
    expect(() => parseDemoOptions([], { BIRDFEED_DEMO_PG_PORT: '70000' })).toThrow(EnvError);
    expect(() => parseDemoOptions([], { BIRDFEED_DEMO_REDIS: 'sometimes' })).toThrow(
      /BIRDFEED_DEMO_REDIS/,
    );
  });
});

describe('demo home directory', () => {
  it('`--home` on a file, or under one: exit 2 naming it, before anything starts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'birdfeed-demo-home-'));
    const file = join(dir, 'afile');
    writeFileSync(file, 'mine\n');
    // Ports of its own: had anything started, it would not take a running demo's.
    const env = { BIRDFEED_DEMO_PG_PORT: '0', BIRDFEED_DEMO_SANDBOX_PORT: '0' };
    try {
      const cases: Array<[string[], Record<string, string>, string]> = [
        [['--home', file], {}, `--home ${file}: is a file, not a directory`],
        [
          ['--home', join(file, 'sub', 'dir')],
          {},
          `--home ${join(file, 'sub', 'dir')}: ${file} is a file, not a directory`,
        ],
        [[], { BIRDFEED_HOME: file }, `BIRDFEED_HOME=${file}: is a file, not a directory`],
        [
          ['--watchlist-only', '--home', file],
          { BIRDFEED_SANDBOX_URL: 'http://127.0.0.1:9' },
          `--home ${file}: is a file, not a directory`,
        ],
      ];
      for (const [args, more, message] of cases) {
        const run = await runCli('birdfeed', ['demo', '--redis', 'off', '--plain', ...args], {
          ...env,
          ...more,
        });
        expect(run.code, run.stderr).toBe(2);
        expect(
          run.stderr.startsWith(`birdfeed demo: ${message}\n\nusage: birdfeed demo`),
          run.stderr,
        ).toBe(true);
        expect(run.stderr).not.toMatch(/EEXIST|ENOTDIR|\n\s+at /);
        expect(run.stdout).toBe('');
      }
      expect(readdirSync(dir)).toEqual(['afile']);
      expect(readFileSync(file, 'utf8')).toBe('mine\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('demo queue mode', () => {
  let closedPort: number;
  beforeAll(async () => {
    // A port nothing listens on: bind one, note it, close it.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closedPort = (server.address() as { port: number }).port;
    await new Promise((resolve) => server.close(resolve));
  });

  it('off is in-process even with a Redis answering', async () => {
    const mode = await chooseQueueMode({ kind: 'off' }, TEST_REDIS_URL);
    expect(mode.kind).toBe('in-process');
  });

  it('REDIS_URL that answers: BullMQ; one that does not: a clear error, not a silent fallback', async () => {
    expect(await chooseQueueMode({ kind: 'auto' }, TEST_REDIS_URL)).toMatchObject({
      kind: 'bullmq',
      redisUrl: TEST_REDIS_URL,
    });
    await expect(
      chooseQueueMode({ kind: 'auto' }, `redis://127.0.0.1:${closedPort}`),
    ).rejects.toThrow(RedisUnreachableError);
    await expect(
      chooseQueueMode({ kind: 'url', url: `redis://127.0.0.1:${closedPort}` }, undefined),
    ).rejects.toThrow(/--redis off/);
  });

  it('a Redis that may evict keys: refused when named, skipped (in-process) when only found', async () => {
    const evicting: ChildProcess = spawn(
      'redis-server',
      [
        '--port',
        String(closedPort),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--maxmemory-policy',
        'allkeys-lru',
      ],
      { stdio: 'ignore' },
    );
    try {
      const url = `redis://127.0.0.1:${closedPort}`;
      const deadline = Date.now() + 30_000;
      while (!(await pingRedis(url, 200)) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await expect(chooseQueueMode({ kind: 'url', url }, undefined)).rejects.toThrow(
        RedisPolicyError,
      );
      const found = await chooseQueueMode({ kind: 'auto' }, undefined, url);
      expect(found.kind).toBe('in-process');
      expect(found.why).toContain('noeviction');
    } finally {
      evicting.kill('SIGKILL');
      await once(evicting, 'exit');
    }
  });

  it('auto without REDIS_URL finds the Redis on 127.0.0.1:6379 (this machine runs one)', async () => {
    expect(await chooseQueueMode({ kind: 'auto' }, undefined)).toMatchObject({
      kind: 'bullmq',
      redisUrl: LOCAL_REDIS_URL,
    });
  });
});

describe('demo watchlist', () => {
  let sandbox: RunningSandbox;
  let testDb: TestDatabase;
  beforeAll(async () => {
    [sandbox, testDb] = await Promise.all([
      startSandbox({ accounts: 8, frozen: true }),
      createTestDatabase('demo_watchlist'),
    ]);
  });
  afterAll(async () => {
    await Promise.all([sandbox?.stop(), testDb?.drop()]);
  });

  it('`birdfeed demo --watchlist-only` (the compose demo profile): refuses an unmigrated database, then loads once', async () => {
    const root = fileURLToPath(new URL('..', import.meta.url));
    const cli = (): Promise<{ code: number; stdout: string; stderr: string }> =>
      new Promise((resolve) => {
        execFile(
          process.execPath,
          ['--import', 'tsx', 'bin/birdfeed.ts', 'demo', '--watchlist-only', '--accounts', '4'],
          {
            cwd: root,
            env: {
              PATH: process.env.PATH ?? '',
              DATABASE_URL: other.url,
              BIRDFEED_SANDBOX_URL: sandbox.url,
            },
          },
          (error, stdout, stderr) =>
            resolve({ code: error === null ? 0 : Number(error.code ?? 1), stdout, stderr }),
        );
      });
    const other = await createTestDatabase('demo_watchlist_cli');
    try {
      const unmigrated = await cli();
      expect(unmigrated.code).toBe(1);
      expect(unmigrated.stderr).toContain('birdfeed migrate');
      const database = await openDatabase({ url: other.url });
      await migrate(database.db).finally(() => database.close());
      const first = await cli();
      expect(first.stdout).toContain('4 added, 0 already there');
      const second = await cli();
      expect(second.stdout).toContain('0 added, 4 already there');
      // A real account on the same database: the demo profile's workers would crawl it
      // against the sandbox.
      const again = await openDatabase({ url: other.url });
      try {
        await upsertTarget(again.db, { provider: 'x', userId: '44196397' });
        const refused = await cli();
        expect(refused.code).toBe(1);
        expect(refused.stderr).toContain(
          "DATABASE_URL's database watches 1 account(s) the demo did not add (x:44196397)",
        );
        const [row] = rowsOf<{ n: number }>(
          await again.db.execute(sql`SELECT count(*)::int AS n FROM watch_targets`),
        );
        expect(row?.n).toBe(5);
      } finally {
        await again.close();
      }
    } finally {
      await other.drop();
    }
  });

  it('`birdfeed demo` on a DATABASE_URL nobody answers: one line, nothing started or left', async () => {
    const home = mkdtempSync(join(tmpdir(), 'birdfeed-demo-down-'));
    try {
      const run = await runCli('birdfeed', ['demo', '--redis', 'off', '--plain'], {
        DATABASE_URL: `postgres://postgres@127.0.0.1:${await freePort()}/none`,
        BIRDFEED_HOME: home,
        BIRDFEED_DEMO_PG_PORT: '0',
        BIRDFEED_DEMO_SANDBOX_PORT: '0',
      });
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/DATABASE_URL/);
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
      expect(run.stdout).not.toContain('sandbox');
      expect(readdirSync(home)).toEqual([]);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  }, 60_000);

  it('`birdfeed demo` on a DATABASE_URL that watches real accounts refuses, changing nothing', async () => {
    const other = await createTestDatabase('demo_foreign');
    const home = mkdtempSync(join(tmpdir(), 'birdfeed-demo-foreign-'));
    try {
      const database = await openDatabase({ url: other.url });
      await migrate(database.db);
      await upsertTarget(database.db, { provider: 'agntdata', userId: '44196397' });
      await upsertTarget(database.db, { provider: 'x', userId: '44196397', tags: ['mine'] });
      const targets = async () =>
        rowsOf(await database.db.execute(sql`SELECT * FROM watch_targets ORDER BY provider`));
      const before = await targets();
      // With a password (trust auth ignores it): the printed hints name the variable instead.
      const url = new URL(other.url);
      url.password = 'pw-not-shown';
      const run = await runCli('birdfeed', ['demo', '--redis', 'off', '--plain'], {
        DATABASE_URL: url.href,
        BIRDFEED_HOME: home,
        BIRDFEED_DEMO_PG_PORT: '0',
        BIRDFEED_DEMO_SANDBOX_PORT: '0',
      });
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(
        'watches 2 account(s) the demo did not add (agntdata:44196397, x:44196397)',
      );
      expect(run.stdout).toContain(`try: psql "$DATABASE_URL" -c`);
      expect(run.stdout).toContain(`commands  DATABASE_URL="$DATABASE_URL" pnpm birdfeed status`);
      expect(run.stdout + run.stderr).not.toContain('pw-not-shown');
      expect(run.stdout).not.toContain('sandbox');
      expect(readdirSync(home)).toEqual([]);
      expect(await targets()).toEqual(before);
      const [runs] = rowsOf<{ n: number }>(
        await database.db.execute(sql`SELECT count(*)::int AS n FROM crawl_runs`),
      );
      expect(runs?.n).toBe(0);
      await database.close();
    } finally {
      rmSync(home, { recursive: true, force: true });
      await other.drop();
    }
  }, 90_000);

  it('starts a sandbox big enough for the accounts asked, however many', async () => {
    for (const count of [1, 18, 50, 200]) {
      const sized = await startSandbox({
        seed: 'demo-size',
        accounts: sandboxAccountsFor(count),
        tweetsPerAccount: 1,
      });
      try {
        expect(await pickDemoTargets(sized.url, count), String(count)).toHaveLength(count);
      } finally {
        await sized.stop();
      }
    }
  });

  it('picks active accounts in the sandbox order across both providers, and loads them once', async () => {
    const targets = await pickDemoTargets(sandbox.url, 6);
    const active = sandbox.accounts().filter((account) => account.status === 'active');
    expect(targets.map((target) => target.userId)).toEqual(
      active.slice(0, 6).map((account) => account.id),
    );
    expect(new Set(targets.map((target) => target.provider))).toEqual(new Set(['x', 'agntdata']));
    // The same accounts on every run: the choice does not depend on the sandbox clock.
    sandbox.clock.advance(24 * 3600_000);
    expect(await pickDemoTargets(sandbox.url, 6)).toEqual(targets);

    const database = await openDatabase({ url: testDb.url });
    try {
      await migrate(database.db);
      const options = { everySeconds: 15, backfillDepth: 300 };
      expect(await loadDemoWatchlist(database.db, targets, options)).toEqual({
        added: 6,
        kept: 0,
      });
      expect(await loadDemoWatchlist(database.db, targets, options)).toEqual({
        added: 0,
        kept: 6,
      });
    } finally {
      await database.close();
    }
  });
});

describe('demo progress', () => {
  it('shows the latest tweet time in UTC whatever the database session time zone', async () => {
    const db = await createTestDatabase('demo_progress_tz');
    try {
      const admin = await openDatabase({ url: db.url });
      try {
        await migrate(admin.db);
        await admin.db.execute(
          sql.raw(`ALTER DATABASE "${db.name}" SET timezone = 'America/New_York'`),
        );
      } finally {
        await admin.close();
      }
      // A new connection, so the database's time zone applies to it.
      const database = await openDatabase({ url: db.url });
      try {
        await upsertTarget(database.db, { provider: 'x', userId: '42' });
        await upsertPage(
          database.db,
          page({
            userId: '42',
            tweets: [
              tweet('4201', { authorId: '42', createdAt: new Date('2026-11-24T13:00:00Z') }),
            ],
          }),
        );
        const snapshot = await readProgress(database.db);
        expect(snapshot.latest?.createdAt).toBe('2026-11-24T13:00:00Z');
        expect(renderProgressBlock(snapshot, [], null, 0, 100).join('\n')).toContain(
          '2026-11-24T13:00:00Z',
        );
      } finally {
        await database.close();
      }
    } finally {
      await db.drop();
    }
  });
});

describe('demo queue prefix with an empty BIRDFEED_QUEUE_PREFIX', () => {
  it.each(['', '  '])('%j is unset: the per-home demo prefix, not the production one', (value) => {
    const options = parseDemoOptions([], { BIRDFEED_QUEUE_PREFIX: value }, '/work/a');
    if (options === 'help') throw new Error('unexpected help');
    expect(options.queuePrefix).toBe(demoQueuePrefix('/work/a/.birdfeed'));
  });
});
