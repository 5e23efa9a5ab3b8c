import { createHash } from 'node:crypto';
import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { parseArgs } from 'node:util';
import { z } from 'zod';
import { parseCommandArgs } from '../commands/command-args.ts';
import { emptyAsUnset, envSchema, optionalInt, parseEnvWith } from '../env.ts';

/**
 * `birdfeed demo`'s options: the shared environment (bin/env.ts) plus the demo's own knobs,
 * each settable by flag or by variable (flags win). The variables exist so a test can run the
 * demo exactly as a user would (`pnpm demo`) and still force "no Redis" on a machine that
 * runs one, or keep its data in a temporary directory.
 */
export const DEMO_USAGE = `usage: birdfeed demo [options]      (pnpm demo)

Starts the sandbox (both providers, time-scaled so new tweets keep coming), opens the database
(DATABASE_URL, or PGlite under .birdfeed/pgdata served over the Postgres wire protocol), migrates
it, loads a demo watchlist (a dozen sandbox accounts across both providers) and crawls it until
Ctrl-C, showing progress. Run it again: the data stays and the crawl resumes from its checkpoints.

  --redis auto|off|URL   queue: auto = REDIS_URL, else a Redis answering on 127.0.0.1:6379, else
                         in-process; off = in-process even with Redis around; URL = that Redis
                         (BIRDFEED_DEMO_REDIS; default auto)
  --workers N            BullMQ mode: worker child processes (BIRDFEED_DEMO_WORKERS; default 2)
  --pg-port N            port of the embedded database's wire server (BIRDFEED_DEMO_PG_PORT;
                         default 5433, 0 = any free port; a busy port falls back to any)
  --sandbox-port N       sandbox port (BIRDFEED_DEMO_SANDBOX_PORT; default 4010, 0 = any)
  --accounts N           accounts on the demo watchlist (BIRDFEED_DEMO_ACCOUNTS; default 12)
  --time-scale K         sandbox seconds per real second (BIRDFEED_DEMO_TIME_SCALE; default 60)
  --every D              crawl interval of each demo target, e.g. 15s (default 15s)
  --backfill N           tweets read back on a new target (default 300; max 3200)
                         (both apply to targets the demo adds; existing ones are left as they are)
  --home DIR             where the demo keeps its data (BIRDFEED_HOME; default ./.birdfeed)
  --watchlist-only       load the demo watchlist into DATABASE_URL from the sandbox at
                         BIRDFEED_SANDBOX_URL and exit (the compose demo profile runs this)
  --plain                plain progress lines even on a terminal

Environment: DATABASE_URL, REDIS_URL, BIRDFEED_QUEUE_PREFIX (default for the demo:
birdfeed-demo-<hash of the home directory>), LOG_LEVEL (of the scheduler and worker logs under
<home>/logs); see .env.example.
`;

export type RedisChoice = { kind: 'auto' } | { kind: 'off' } | { kind: 'url'; url: string };

export interface DemoOptions {
  redis: RedisChoice;
  workers: number;
  pgPort: number;
  sandboxPort: number;
  accounts: number;
  timeScale: number;
  everySeconds: number;
  backfillDepth: number;
  /** Absolute. */
  home: string;
  /** Who chose `home`, for messages about it. */
  homeFrom: '--home' | 'BIRDFEED_HOME' | 'default';
  watchlistOnly: boolean;
  sandboxUrl: string | undefined;
  plain: boolean;
  databaseUrl: string | undefined;
  redisUrl: string | undefined;
  /** BIRDFEED_QUEUE_PREFIX when set, else {@link demoQueuePrefix} of `home`. */
  queuePrefix: string;
  logLevel: string;
}

export class DemoUsageError extends Error {
  override readonly name = 'DemoUsageError';
}

/** A plain-digits integer variable (bin/env.ts's rule), with the demo's default when unset. */
const int = (min: number, max: number, fallback: number) =>
  optionalInt(min, max).transform((value) => value ?? fallback);
export const demoEnvSchema = envSchema.extend({
  BIRDFEED_DEMO_REDIS: emptyAsUnset(z.string().trim().min(1).default('auto')),
  BIRDFEED_DEMO_WORKERS: int(1, 16, 2),
  BIRDFEED_DEMO_PG_PORT: int(0, 65535, 5433),
  BIRDFEED_DEMO_SANDBOX_PORT: int(0, 65535, 4010),
  BIRDFEED_DEMO_ACCOUNTS: int(1, 200, 12),
  BIRDFEED_DEMO_TIME_SCALE: emptyAsUnset(z.coerce.number().positive().max(100_000).default(60)),
  BIRDFEED_HOME: emptyAsUnset(z.string().trim().min(1).optional()),
  BIRDFEED_SANDBOX_URL: emptyAsUnset(z.url().optional()),
});

const DEMO_FLAGS = {
  help: { type: 'boolean', short: 'h' },
  redis: { type: 'string' },
  workers: { type: 'string' },
  'pg-port': { type: 'string' },
  'sandbox-port': { type: 'string' },
  accounts: { type: 'string' },
  'time-scale': { type: 'string' },
  every: { type: 'string' },
  backfill: { type: 'string' },
  home: { type: 'string' },
  'watchlist-only': { type: 'boolean' },
  plain: { type: 'boolean' },
} as const;

function parseRedisChoice(value: string, where: string): RedisChoice {
  if (value === 'auto') return { kind: 'auto' };
  if (value === 'off' || value === 'none' || value === 'false') return { kind: 'off' };
  if (/^rediss?:\/\//.test(value)) return { kind: 'url', url: value };
  throw new DemoUsageError(`${where}: expected auto, off or a redis:// URL, got "${value}"`);
}

function integer(name: string, value: string, min: number, max: number): number {
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isInteger(parsed) || parsed < min || parsed > max) {
    throw new DemoUsageError(
      `--${name}: expected an integer from ${min} to ${max}, got "${value}"`,
    );
  }
  return parsed;
}

/** "15s", "2m", "1h" or a number of seconds. */
export function parseEverySeconds(value: string): number {
  const match = /^(\d+)(s|m|h)?$/.exec(value.trim());
  if (match === null)
    throw new DemoUsageError(`--every: expected e.g. 15s, 2m, 1h; got "${value}"`);
  const seconds = Number(match[1]) * (match[2] === 'h' ? 3600 : match[2] === 'm' ? 60 : 1);
  if (seconds < 10 || seconds > 86_400) {
    throw new DemoUsageError(`--every: between 10s and 24h, got "${value}"`);
  }
  return seconds;
}

export function parseDemoOptions(
  argv: string[],
  source: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
): DemoOptions | 'help' {
  const env = parseEnvWith(demoEnvSchema, source);
  let values: ReturnType<
    typeof parseArgs<{ args: string[]; options: typeof DEMO_FLAGS }>
  >['values'];
  try {
    values = parseCommandArgs({
      args: argv,
      options: DEMO_FLAGS,
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new DemoUsageError((error as Error).message);
  }
  if (values.help === true) return 'help';

  let timeScale = env.BIRDFEED_DEMO_TIME_SCALE;
  if (values['time-scale'] !== undefined) {
    timeScale = Number(values['time-scale']);
    if (!(timeScale > 0 && timeScale <= 100_000)) {
      throw new DemoUsageError(
        `--time-scale: expected a number > 0, got "${values['time-scale']}"`,
      );
    }
  }
  const homeValue = values.home ?? env.BIRDFEED_HOME ?? '.birdfeed';
  const home = isAbsolute(homeValue) ? homeValue : resolve(cwd, homeValue);
  return {
    redis:
      values.redis !== undefined
        ? parseRedisChoice(values.redis, '--redis')
        : parseRedisChoice(env.BIRDFEED_DEMO_REDIS, 'BIRDFEED_DEMO_REDIS'),
    workers:
      values.workers !== undefined
        ? integer('workers', values.workers, 1, 16)
        : env.BIRDFEED_DEMO_WORKERS,
    pgPort:
      values['pg-port'] !== undefined
        ? integer('pg-port', values['pg-port'], 0, 65535)
        : env.BIRDFEED_DEMO_PG_PORT,
    sandboxPort:
      values['sandbox-port'] !== undefined
        ? integer('sandbox-port', values['sandbox-port'], 0, 65535)
        : env.BIRDFEED_DEMO_SANDBOX_PORT,
    accounts:
      values.accounts !== undefined
        ? integer('accounts', values.accounts, 1, 200)
        : env.BIRDFEED_DEMO_ACCOUNTS,
    timeScale,
    everySeconds: values.every !== undefined ? parseEverySeconds(values.every) : 15,
    backfillDepth:
      values.backfill !== undefined ? integer('backfill', values.backfill, 1, 3200) : 300,
    home,
    homeFrom:
      values.home !== undefined
        ? '--home'
        : env.BIRDFEED_HOME !== undefined
          ? 'BIRDFEED_HOME'
          : 'default',
    watchlistOnly: values['watchlist-only'] === true,
    sandboxUrl: env.BIRDFEED_SANDBOX_URL,
    plain: values.plain === true,
    databaseUrl: env.DATABASE_URL,
    redisUrl: env.REDIS_URL,
    // envSchema fills in the production default; only a prefix the user chose (not an empty
    // value, which is unset) counts here.
    queuePrefix:
      (source.BIRDFEED_QUEUE_PREFIX ?? '').trim() === ''
        ? demoQueuePrefix(home)
        : env.BIRDFEED_QUEUE_PREFIX,
    logLevel: env.LOG_LEVEL,
  };
}

/**
 * Creates the demo's home directory, or throws DemoUsageError saying why it cannot be one
 * (named as the user gave it), before anything starts. Later, mkdir's EEXIST or ENOTDIR came
 * out as a stack, after the sandbox and the database may already have been started.
 */
export function prepareDemoHome(options: Pick<DemoOptions, 'home' | 'homeFrom'>): void {
  const { home, homeFrom } = options;
  const named =
    homeFrom === 'BIRDFEED_HOME'
      ? `BIRDFEED_HOME=${home}`
      : `--home ${home}${homeFrom === 'default' ? ' (the default)' : ''}`;
  try {
    mkdirSync(home, { recursive: true });
  } catch (error) {
    throw new DemoUsageError(`${named}: ${homeProblem(home, error)}`);
  }
  try {
    // Everything the demo keeps goes here: its lock, state, logs and PGlite's files.
    accessSync(home, constants.W_OK | constants.X_OK);
  } catch {
    throw new DemoUsageError(`${named}: is not writable (permission denied)`);
  }
}

/** Why mkdir -p of `home` failed, in words: which part of the path is in the way, or the errno. */
function homeProblem(home: string, error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EEXIST' || code === 'ENOTDIR') {
    // The nearest part of the path that exists is not a directory: home itself, or a parent.
    for (let path = home; ; path = dirname(path)) {
      let stat: ReturnType<typeof statSync>;
      try {
        stat = statSync(path, { throwIfNoEntry: false });
      } catch {
        stat = undefined; // ENOTDIR: a parent is in the way, found further up
      }
      if (stat !== undefined && !stat.isDirectory()) {
        const what = stat.isFile() ? 'a file, not a directory' : 'not a directory';
        return path === home ? `is ${what}` : `${path} is ${what}`;
      }
      if (path === dirname(path)) break;
    }
  }
  if (code === 'EACCES' || code === 'EPERM') return 'cannot be created (permission denied)';
  if (code === 'EROFS') return 'cannot be created (read-only file system)';
  return `cannot be created (${(error as Error).message})`;
}

export function pgliteDir(options: Pick<DemoOptions, 'home'>): string {
  return join(options.home, 'pgdata');
}

/**
 * The demo's BullMQ key prefix: one per home directory. The demo finds a local Redis on its own;
 * with the production default (`birdfeed`) two demos, or a demo beside a local birdfeed, shared
 * the same queues and each one's workers took the other's jobs, crawling into the wrong
 * database. The same home (its absolute path, not resolved through symlinks, so it does not
 * change once the directory exists) keeps the same prefix, so a demo run again finds the jobs
 * it left.
 */
export function demoQueuePrefix(home: string): string {
  const hash = createHash('sha256').update(resolve(home)).digest('hex').slice(0, 10);
  return `birdfeed-demo-${hash}`;
}
