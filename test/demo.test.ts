import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { queueStatus } from '@birdfeed/jobs';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { demoQueuePrefix } from '../bin/demo/demo-options.ts';
import { createTestDatabase } from './support/postgres.ts';
import { TEST_REDIS_URL, testRedisPrefix } from './support/redis.ts';

/**
 * `pnpm demo` run as a new user runs it: the real command from the repository root, in a child
 * process, with nothing configured (no DATABASE_URL, no REDIS_URL). Only its data directory is a
 * fresh temporary one (BIRDFEED_HOME, what a fresh clone's .birdfeed/ would be) and its ports
 * are any free ones, so it can run beside other tests. Stopped with SIGINT to its process group,
 * as a terminal's Ctrl-C does, then started again on the same data.
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const homes: string[] = [];
const running = new Set<ChildProcess>();
/** Scheduler/worker pids the demo reported (own process groups: not reached via the demo's). */
const childPids = new Set<number>();

/**
 * Whether `pid` is still one of the demo's scheduler/worker processes. Not `kill(pid, 0)`: that
 * also answers for a zombie (exited, not yet reaped) and for an unrelated process that reused
 * the pid.
 */
function isDemoChild(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // pid (comm) STATE ...: comm may contain spaces, so read the state after the last ')'.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return false;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('child-entry');
  } catch {
    return false;
  }
}

function demoChildLogs(home: string): string {
  const dir = join(home, 'logs');
  try {
    return readdirSync(dir)
      .map((name) => `--- ${name}\n${readFileSync(join(dir, name), 'utf8').slice(-2000)}`)
      .join('\n');
  } catch {
    return '(no child logs)';
  }
}

afterAll(() => {
  for (const child of running) {
    if (child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
    }
  }
  for (const pid of childPids) {
    if (isDemoChild(pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
  }
  for (const home of homes) rmSync(home, { recursive: true, force: true });
});

interface Demo {
  child: ChildProcess;
  output(): string;
  databaseKind: string;
  queueKind: string;
  databaseUrl: string;
  sandboxUrl: string;
  stop(): Promise<{ code: number | null; signal: string | null; output: string }>;
}

async function startDemo(home: string, env: Record<string, string | undefined>): Promise<Demo> {
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    BIRDFEED_HOME: home,
    BIRDFEED_DEMO_PG_PORT: '0',
    BIRDFEED_DEMO_SANDBOX_PORT: '0',
    LOG_LEVEL: 'warn',
    ...env,
  };
  for (const key of ['DATABASE_URL', 'REDIS_URL', 'BIRDFEED_QUEUE_PREFIX']) {
    if (env[key] === undefined) delete childEnv[key];
  }
  const child = spawn('pnpm', ['demo'], {
    cwd: ROOT,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  running.add(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    const pids = /processes\s+scheduler \+ \d+ worker\(s\), pids ([\d, ]+);/.exec(output);
    for (const pid of pids?.[1]?.split(', ') ?? []) childPids.add(Number(pid));
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  // 'close', not 'exit': pnpm can exit before the last stdout chunk (the demo's closing line)
  // has been read from the pipe, while its own stderr line already has.
  const exited = once(child, 'close').then(([code, signal]) => {
    running.delete(child);
    return { code: code as number | null, signal: signal as string | null };
  });
  // pnpm, tsx, PGlite and the migrations take seconds on a loaded machine.
  const deadline = Date.now() + 60_000;
  let header: RegExpExecArray | null = null;
  while (Date.now() < deadline) {
    header =
      /database: (\w+), queue: ([\w-]+)\n\s+database\s+(postgres:\/\/\S+)[\s\S]*?sandbox\s+(http:\/\/\S+)/.exec(
        output,
      );
    if (header !== null || child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (header === null) throw new Error(`the demo did not print its header:\n${output}`);
  return {
    child,
    output: () => output,
    databaseKind: header[1] as string,
    queueKind: header[2] as string,
    databaseUrl: header[3] as string,
    sandboxUrl: header[4] as string,
    async stop() {
      // Ctrl-C: SIGINT to the whole foreground process group (pnpm, tsx, the demo).
      process.kill(-(child.pid as number), 'SIGINT');
      const { code, signal } = await exited;
      return { code, signal, output };
    },
  };
}

async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | null>,
  demo: Demo,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== null) return value;
    } catch (error) {
      last = error;
    }
    if (demo.child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(
    `timed out waiting for ${what} (${String(last)}); demo output:\n${demo.output().slice(-3000)}`,
  );
}

async function query<T>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text)).rows as T[];
  } finally {
    await client.end();
  }
}

interface Snapshot {
  tweetIds: Set<string>;
  counts: Record<string, number>;
  sinceIds: Map<string, string | null>;
  maxRunId: string;
}

const COUNTED = ['tweets', 'users', 'media', 'tweet_media', 'raw_pages', 'crawl_runs'];

async function snapshot(url: string): Promise<Snapshot> {
  const ids = await query<{ id: string }>(url, 'SELECT id::text AS id FROM tweets');
  const counts: Record<string, number> = {};
  for (const table of COUNTED) {
    const [row] = await query<{ n: number }>(url, `SELECT count(*)::int AS n FROM ${table}`);
    counts[table] = row?.n ?? 0;
  }
  const checkpoints = await query<{ provider: string; user_id: string; since_id: string | null }>(
    url,
    'SELECT provider, user_id::text AS user_id, since_id::text AS since_id FROM crawl_checkpoints',
  );
  const [run] = await query<{ max: string }>(
    url,
    'SELECT coalesce(max(id), 0)::text AS max FROM crawl_runs',
  );
  return {
    tweetIds: new Set(ids.map((row) => row.id)),
    counts,
    sinceIds: new Map(checkpoints.map((row) => [`${row.provider}:${row.user_id}`, row.since_id])),
    maxRunId: run?.max ?? '0',
  };
}

/** Watched accounts with at least one of their own tweets stored. */
/** X targets whose first window completed (since_id set): what the second run resumes from. */
async function xTargetsCheckpointed(url: string): Promise<number> {
  const [row] = await query<{ n: number }>(
    url,
    "SELECT count(*)::int AS n FROM crawl_checkpoints WHERE provider = 'x' AND since_id IS NOT NULL",
  );
  return row?.n ?? 0;
}

async function accountsWithTweets(url: string): Promise<number> {
  const [row] = await query<{ n: number }>(
    url,
    `SELECT count(DISTINCT author_id)::int AS n FROM tweets
     WHERE author_id IN (SELECT user_id FROM watch_targets)`,
  );
  return row?.n ?? 0;
}

interface RequestLogEntry {
  seq: number;
  provider: string | null;
  endpoint: string;
  status: number;
  params: Record<string, string>;
}

async function sandboxRequests(sandboxUrl: string): Promise<RequestLogEntry[]> {
  const response = await fetch(new URL('/_sandbox/requests', sandboxUrl));
  return ((await response.json()) as { requests: RequestLogEntry[] }).requests;
}

/**
 * The demo itself exits 0 after a clean stop; `pnpm` (which got the same Ctrl-C) then ends
 * itself with SIGINT and prints "ELIFECYCLE Command failed", as it does for any script.
 */
function expectCleanStop(stop: { code: number | null; signal: string | null; output: string }) {
  expect(stop.output).toContain('demo stopped cleanly');
  expect(stop.output).not.toContain('shutdown was not clean');
  expect(stop.code === 0 || stop.signal === 'SIGINT', stop.output).toBe(true);
}

/**
 * The whole story of the "Show": first run fills the database; Ctrl-C stops it cleanly;
 * the second run keeps every row and continues from the checkpoints (its first X request for an
 * account that was read before carries that account's stored since_id).
 */
async function runTwice(env: Record<string, string | undefined>, expectQueue: string) {
  const home = mkdtempSync(join(tmpdir(), 'birdfeed-demo-'));
  homes.push(home);

  const first = await startDemo(home, env);
  expect(first.databaseKind).toBe('pglite');
  expect(first.queueKind).toBe(expectQueue);
  await waitFor(
    'tweets from 10 watched accounts and a completed X window',
    60_000,
    async () =>
      (await accountsWithTweets(first.databaseUrl)) >= 10 &&
      (await xTargetsCheckpointed(first.databaseUrl)) > 0
        ? true
        : null,
    first,
  );
  const before = await snapshot(first.databaseUrl);
  const firstStop = await first.stop();
  expectCleanStop(firstStop);

  const second = await startDemo(home, env);
  expect(second.queueKind).toBe(expectQueue);
  // Every X account whose first window completed before the stop: its next run must ask from
  // the stored checkpoint, not from the top.
  const checkpointed = [...before.sinceIds.entries()].filter(
    ([key, sinceId]) => key.startsWith('x:') && sinceId !== null,
  );
  expect(checkpointed.length).toBeGreaterThan(0);
  const resumed = await waitFor(
    'X requests with since_id in the second run',
    60_000,
    async () => {
      const requests = (await sandboxRequests(second.sandboxUrl)).filter(
        (entry) => entry.provider === 'x' && entry.endpoint === 'GET /2/users/:id/tweets',
      );
      const firstByUser = new Map<string, RequestLogEntry>();
      for (const entry of requests) {
        const user = entry.params.user_id as string;
        if (!firstByUser.has(user)) firstByUser.set(user, entry);
      }
      const seen = checkpointed.filter(([key]) => firstByUser.has(key.slice(2)));
      return seen.length >= Math.min(3, checkpointed.length) ? { firstByUser, seen } : null;
    },
    second,
  );
  for (const [key, sinceId] of resumed.seen) {
    const request = resumed.firstByUser.get(key.slice(2)) as RequestLogEntry;
    // A window left open by the stop resumes from its cursor (with the same since_id); a new
    // window starts from the checkpoint: either way since_id is the stored one or a later one.
    expect(request.params.since_id, `${key}: first request of the second run`).toBeDefined();
    expect(BigInt(request.params.since_id as string)).toBeGreaterThanOrEqual(
      BigInt(sinceId as string),
    );
  }

  const after = await snapshot(second.databaseUrl);
  // The sandbox injects no faults here: any recorded failure is a bug somewhere in the path.
  const failures = await query<{ error_name: string; error_message: string }>(
    second.databaseUrl,
    'SELECT error_name, error_message FROM crawl_failures ORDER BY id LIMIT 5',
  );
  expect(failures).toEqual([]);
  // The second run crawled (runs of its own), and no checkpointed target went back to a backfill.
  const newRuns = await query<{ provider: string; user_id: string; kind: string }>(
    second.databaseUrl,
    `SELECT provider, user_id::text AS user_id, kind FROM crawl_runs WHERE id > ${BigInt(before.maxRunId)}`,
  );
  expect(newRuns.length).toBeGreaterThan(0);
  const restartedBackfills = newRuns.filter(
    (run) => run.kind === 'backfill' && before.sinceIds.get(`${run.provider}:${run.user_id}`),
  );
  expect(restartedBackfills).toEqual([]);
  const secondStop = await second.stop();
  expectCleanStop(secondStop);

  for (const table of COUNTED) {
    expect(after.counts[table], table).toBeGreaterThanOrEqual(before.counts[table] as number);
  }
  const lost = [...before.tweetIds].filter((id) => !after.tweetIds.has(id));
  expect(lost).toEqual([]);
  for (const [key, sinceId] of before.sinceIds) {
    if (sinceId === null) continue;
    const now = after.sinceIds.get(key);
    expect(now, `${key}: checkpoint reset`).not.toBeNull();
    expect(BigInt(now as string)).toBeGreaterThanOrEqual(BigInt(sinceId));
  }
}

async function dropQueues(prefix: string) {
  const redis = new Redis(TEST_REDIS_URL);
  try {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
  } finally {
    await redis.quit();
  }
}

describe('pnpm demo', () => {
  it('without Redis: PGlite and the in-process crawl; Ctrl-C, run again, nothing lost, resumed', async () => {
    await runTwice({ BIRDFEED_DEMO_REDIS: 'off' }, 'in-process');
  }, 240_000);

  it('with Redis: scheduler and workers as child processes (BullMQ) over the same PGlite', async () => {
    const prefix = testRedisPrefix('demo');
    try {
      await runTwice(
        { REDIS_URL: TEST_REDIS_URL, BIRDFEED_QUEUE_PREFIX: prefix, BIRDFEED_DEMO_WORKERS: '1' },
        'bullmq',
      );
    } finally {
      await dropQueues(prefix);
    }
  }, 240_000);

  it('with DATABASE_URL and REDIS_URL: that Postgres, the BullMQ topology, queues of its own', async () => {
    const testDb = await createTestDatabase('demo');
    const home = mkdtempSync(join(tmpdir(), 'birdfeed-demo-'));
    homes.push(home);
    // No BIRDFEED_QUEUE_PREFIX: the demo derives one from its home (a fresh temporary directory,
    // so this test's queues are its own) instead of the production `birdfeed`.
    const prefix = demoQueuePrefix(home);
    try {
      const demo = await startDemo(home, {
        DATABASE_URL: testDb.url,
        REDIS_URL: TEST_REDIS_URL,
        BIRDFEED_QUEUE_PREFIX: undefined,
        BIRDFEED_DEMO_WORKERS: '1',
      });
      expect(demo.databaseKind).toBe('postgres');
      expect(demo.queueKind).toBe('bullmq');
      expect(demo.databaseUrl).toBe(testDb.url);
      expect(demo.output()).toContain(` BIRDFEED_QUEUE_PREFIX=${prefix} pnpm birdfeed status`);
      await waitFor(
        'tweets from 10 watched accounts',
        60_000,
        async () => ((await accountsWithTweets(testDb.url)) >= 10 ? true : null),
        demo,
      );
      // The scheduler and the worker met on the derived prefix (jobs went through it).
      const redis = new Redis(TEST_REDIS_URL);
      try {
        const queues = await queueStatus({ connection: redis, prefix });
        expect(queues.map((queue) => queue.name)).toContain('crawl.x.default');
      } finally {
        await redis.quit();
      }
      expectCleanStop(await demo.stop());
      // The workers wrote through their own connections: a run per target, no failure on record.
      const [runs] = await query<{ targets: number; runs: number; failures: number }>(
        testDb.url,
        `SELECT (SELECT count(DISTINCT (provider, user_id)) FROM crawl_runs)::int AS targets,
                (SELECT count(*) FROM crawl_runs WHERE outcome = 'succeeded')::int AS runs,
                (SELECT count(*) FROM crawl_failures)::int AS failures`,
      );
      expect(runs?.targets).toBeGreaterThanOrEqual(10);
      expect(runs?.runs).toBeGreaterThan(0);
      expect(runs?.failures).toBe(0);
    } finally {
      await dropQueues(prefix);
      await testDb.drop();
    }
  }, 180_000);

  it('killed with SIGKILL, it leaves no scheduler or worker behind', async () => {
    const prefix = testRedisPrefix('demo-kill');
    const testDb = await createTestDatabase('demo_kill');
    const home = mkdtempSync(join(tmpdir(), 'birdfeed-demo-'));
    homes.push(home);
    try {
      const demo = await startDemo(home, {
        DATABASE_URL: testDb.url,
        REDIS_URL: TEST_REDIS_URL,
        BIRDFEED_QUEUE_PREFIX: prefix,
        BIRDFEED_DEMO_WORKERS: '1',
      });
      const pids = await waitFor(
        'the child processes',
        60_000,
        async () => {
          const match = /processes\s+scheduler \+ 1 worker\(s\), pids ([\d, ]+);/.exec(
            demo.output(),
          );
          return match === null ? null : (match[1] as string).split(', ').map(Number);
        },
        demo,
      );
      expect(pids).toHaveLength(2);
      // Each child is in a process group of its own (see bin/demo/child-processes.ts): if this
      // test fails anywhere below, kill them all the same.
      for (const pid of pids) childPids.add(pid);
      expect(pids.every(isDemoChild)).toBe(true);
      process.kill(-(demo.child.pid as number), 'SIGKILL');
      // The children may still be starting (node + tsx + the CLI's imports take seconds on a
      // loaded machine) when their parent dies; each notices within a second of running its
      // guard and then has 5 s to finish. The deadline leaves room for a slow start.
      const killedAt = Date.now();
      const deadline = killedAt + 45_000;
      while (pids.some(isDemoChild) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const left = pids.filter(isDemoChild);
      const logs = left.length === 0 ? '' : demoChildLogs(home);
      for (const pid of left) process.kill(pid, 'SIGKILL');
      expect(left, `still running ${Date.now() - killedAt} ms after the SIGKILL\n${logs}`).toEqual(
        [],
      );
    } finally {
      await dropQueues(prefix);
      await testDb.drop();
    }
  }, 180_000);
});
