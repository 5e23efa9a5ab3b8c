import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type CrawlClient, openCrawlDatabase } from '@birdfeed/crawl';
import { type BirdfeedDb, type Database, lockDataDir, migrate, openDatabase } from '@birdfeed/db';
import { createRedisConnection, queueStatus } from '@birdfeed/jobs';
import type { ProviderName } from '@birdfeed/model';
import { createAgntdataClient, createXClient } from '@birdfeed/providers';
import { PGlite } from '@electric-sql/pglite';
import {
  DEFAULT_AGNTDATA_API_KEY,
  DEFAULT_X_BEARER_TOKEN,
  type RunningSandbox,
  startSandbox,
} from '../../apps/sandbox/src/index.ts';
import { type DemoChild, spawnChild, stopChildren } from '../demo/child-processes.ts';
import {
  DEMO_USAGE,
  type DemoOptions,
  DemoUsageError,
  parseDemoOptions,
  pgliteDir,
  prepareDemoHome,
} from '../demo/demo-options.ts';
import { readDemoState, writeDemoState } from '../demo/demo-state.ts';
import {
  foreignTargets,
  loadDemoWatchlist,
  pickDemoTargets,
  sandboxAccountsFor,
} from '../demo/demo-watchlist.ts';
import { runInProcessCrawl } from '../demo/in-process-crawl.ts';
import { type RunningPgliteWireServer, startPgliteWireServer } from '../demo/pglite-wire-server.ts';
import { type BudgetLeft, ProgressPrinter, readProgress } from '../demo/progress.ts';
import { chooseQueueMode, type QueueMode, redact } from '../demo/redis-probe.ts';
import { EnvError } from '../env.ts';

/**
 * `pnpm demo`: the whole pipeline on one machine with nothing installed but Node. See
 * DEMO_USAGE (bin/demo/demo-options.ts) for the options and the README for the walkthrough.
 *
 * Why the sandbox runs in this process (the command imports apps/sandbox): the demo is a
 * composition root like the tests, not an app; the scheduler and workers it starts are the
 * real apps, as separate processes.
 */
const SANDBOX_SEED = 'birdfeed-demo';

export async function main(argv: string[]): Promise<number> {
  let options: DemoOptions | 'help';
  try {
    options = parseDemoOptions(argv);
  } catch (error) {
    if (error instanceof DemoUsageError || error instanceof EnvError) {
      process.stderr.write(`birdfeed demo: ${error.message}\n\n${DEMO_USAGE}`);
      return 2;
    }
    throw error;
  }
  if (options === 'help') {
    process.stdout.write(DEMO_USAGE);
    return 0;
  }
  if (options.watchlistOnly) return loadWatchlistOnly(options);
  return refuseBadHome(options) ?? runDemo(options);
}

/** Creates the home directory; one that cannot be is bad usage (exit 2), like a bad flag. */
function refuseBadHome(options: DemoOptions): number | undefined {
  try {
    prepareDemoHome(options);
    return undefined;
  } catch (error) {
    if (!(error instanceof DemoUsageError)) throw error;
    process.stderr.write(`birdfeed demo: ${error.message}\n\n${DEMO_USAGE}`);
    return 2;
  }
}

/** The compose demo profile: fill the watchlist of DATABASE_URL from a running sandbox. */
async function loadWatchlistOnly(options: DemoOptions): Promise<number> {
  if (options.sandboxUrl === undefined) {
    process.stderr.write(
      'birdfeed demo --watchlist-only: set BIRDFEED_SANDBOX_URL to the sandbox to read accounts from\n',
    );
    return 2;
  }
  // The embedded database belongs to one process: not while a demo holds it.
  let releaseLock = () => {};
  if (options.databaseUrl === undefined) {
    const refused = refuseBadHome(options);
    if (refused !== undefined) return refused;
    try {
      releaseLock = takeLock(options.home);
    } catch (error) {
      if (!(error instanceof DemoUsageError)) throw error;
      process.stderr.write(`birdfeed demo --watchlist-only: ${error.message}\n`);
      return 1;
    }
  }
  try {
    return await fillWatchlist(options, options.sandboxUrl);
  } catch (error) {
    const name = (error as Error).name;
    if (
      name !== 'MigrationsMissingError' &&
      name !== 'SandboxAccountsError' &&
      !(error instanceof DemoUsageError)
    )
      throw error;
    process.stderr.write(`birdfeed demo --watchlist-only: ${(error as Error).message}\n`);
    return 1;
  } finally {
    releaseLock();
  }
}

async function fillWatchlist(options: DemoOptions, sandboxUrl: string): Promise<number> {
  const database = await openCrawlDatabase(
    options.databaseUrl === undefined
      ? { dataDir: pgliteDir(options), description: `PGlite at ${pgliteDir(options)}` }
      : { url: options.databaseUrl, description: redact(options.databaseUrl) },
  );
  try {
    if (options.databaseUrl !== undefined) await refuseForeignTargets(database.db);
    const targets = await pickDemoTargets(sandboxUrl, options.accounts);
    const loaded = await loadDemoWatchlist(database.db, targets, options);
    process.stdout.write(
      `demo watchlist: ${targets.length} sandbox accounts (${count(targets, 'x')} x, ${count(targets, 'agntdata')} agntdata): ${loaded.added} added, ${loaded.kept} already there\n`,
    );
    return 0;
  } finally {
    await database.close();
  }
}

/**
 * A DATABASE_URL that also watches real accounts is not the demo's: everything due in it would
 * be crawled against the sandbox (the demo's processes, or the compose demo profile's).
 */
async function refuseForeignTargets(db: BirdfeedDb): Promise<void> {
  const foreign = await foreignTargets(db);
  if (foreign.count === 0) return;
  const more = foreign.count > foreign.examples.length ? ', …' : '';
  throw new DemoUsageError(
    `DATABASE_URL's database watches ${foreign.count} account(s) the demo did not add (${foreign.examples.join(', ')}${more}): the demo crawls every target of its database against the sandbox, so it would mark them not_found and write sandbox pages beside their data. Nothing was changed. Give the demo a database of its own: an empty one, or unset DATABASE_URL for the embedded PGlite.`,
  );
}

function count(targets: { provider: ProviderName }[], provider: ProviderName): number {
  return targets.filter((target) => target.provider === provider).length;
}

function isAddressInUse(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'EADDRINUSE';
}

/** One demo per data directory: two PGlite processes on one directory would corrupt it. */
function takeLock(home: string): () => void {
  const path = join(home, 'demo.lock');
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid) {
      try {
        process.kill(pid, 0);
        throw new DemoUsageError(
          `another demo (pid ${pid}) is running on ${home}; stop it first, or use --home for a second one`,
        );
      } catch (error) {
        if (error instanceof DemoUsageError) throw error;
        // ESRCH: a demo that was killed left its lock behind; take it over.
      }
    }
  } catch (error) {
    if (error instanceof DemoUsageError) throw error;
  }
  writeFileSync(path, `${process.pid}\n`);
  return () => rmSync(path, { force: true });
}

interface Cleanup {
  name: string;
  run(): Promise<unknown> | unknown;
}

async function runDemo(options: DemoOptions): Promise<number> {
  const out = process.stdout;
  const started = Date.now();
  let releaseLock: () => void;
  try {
    releaseLock = takeLock(options.home);
  } catch (error) {
    if (error instanceof DemoUsageError) {
      process.stderr.write(`birdfeed demo: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
  // Every resource registers how to close it; shutdown runs them in reverse order, each even
  // when an earlier one failed, and reports what failed.
  const cleanups: Cleanup[] = [{ name: 'lock', run: releaseLock }];
  const stop = new AbortController();
  let firstSignalAt: number | null = null;
  let children: DemoChild[] = [];
  const killChildren = () => {
    for (const child of children) {
      if (child.process.exitCode === null && child.process.signalCode === null) {
        child.process.kill('SIGKILL');
      }
    }
  };
  // The children have process groups of their own (so one Ctrl-C reaches them once, through
  // us); if this process dies without stopping them, they must not outlive it.
  process.on('exit', killChildren);
  const onSignal = (signal: NodeJS.Signals) => {
    if (firstSignalAt === null) {
      firstSignalAt = Date.now();
      out.write(`\n${signal}: stopping (children first, then the database)…\n`);
      stop.abort();
      return;
    }
    // One Ctrl-C can arrive twice when a runner relays it (`tsx bin/birdfeed.ts demo`'s CLI
    // does; `pnpm demo` runs node itself and does not).
    if (Date.now() - firstSignalAt < 1000) return;
    process.stderr.write(`${signal} again: killing the children and exiting now\n`);
    killChildren();
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const shutdown = async (): Promise<string[]> => {
    const problems: string[] = [];
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup.run();
      } catch (error) {
        problems.push(`${cleanup.name}: ${(error as Error).message}`);
      }
    }
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', killChildren);
    return problems;
  };

  try {
    const queue: QueueMode = await chooseQueueMode(options.redis, options.redisUrl);

    // --- the database -----------------------------------------------------------------------
    let databaseUrl: string;
    let databaseKind: 'pglite' | 'postgres';
    let databaseNote: string;
    if (options.databaseUrl !== undefined) {
      databaseUrl = options.databaseUrl;
      databaseKind = 'postgres';
      databaseNote = 'DATABASE_URL';
    } else {
      const dir = pgliteDir(options);
      mkdirSync(dir, { recursive: true });
      // The same lock @birdfeed/db's openDatabase takes: no other process opens these files.
      cleanups.push({ name: 'data directory lock', run: lockDataDir(dir) });
      const pglite = await PGlite.create(dir);
      cleanups.push({ name: 'PGlite', run: () => pglite.close() });
      let server: RunningPgliteWireServer;
      let busy = '';
      try {
        server = await startPgliteWireServer({ db: pglite, port: options.pgPort });
      } catch (error) {
        if (!isAddressInUse(error) || options.pgPort === 0) throw error;
        server = await startPgliteWireServer({ db: pglite, port: 0 });
        busy = ` (port ${options.pgPort} was busy)`;
      }
      cleanups.push({ name: 'wire server', run: () => server.stop() });
      databaseUrl = server.url;
      databaseKind = 'pglite';
      databaseNote = `PGlite files in ${dir}, served by this process${busy} (one backend: clients take turns)`;
    }

    // Opened (one connection tried) before anything is printed or started: a DATABASE_URL that
    // cannot be reached is one line, not a banner, a sandbox and a demo.json left behind.
    const database: Database = await openDatabase({
      url: databaseUrl,
      maxConnections: 4,
      description: databaseKind === 'postgres' ? `DATABASE_URL=${redact(databaseUrl)}` : undefined,
    });
    cleanups.push({ name: 'database pool', run: () => database.close() });

    out.write(`birdfeed demo — database: ${databaseKind}, queue: ${queue.kind}\n`);
    out.write(`  database  ${redact(databaseUrl)}\n`);
    out.write(`            ${databaseNote}\n`);
    // A URL with a password is printed masked: a copyable line names the variable instead.
    const shellUrl = redact(databaseUrl) === databaseUrl ? databaseUrl : '$DATABASE_URL';
    out.write(`            try: psql "${shellUrl}" -c 'select count(*) from tweets'\n`);
    out.write(`  queue     ${queue.kind}: ${queue.why}\n`);
    const statusEnv = `DATABASE_URL=${shellUrl === databaseUrl ? databaseUrl : '"$DATABASE_URL"'}${queue.kind === 'bullmq' ? ` REDIS_URL=${redact(queue.redisUrl)} BIRDFEED_QUEUE_PREFIX=${options.queuePrefix}` : ''}`;
    out.write(`  commands  ${statusEnv} pnpm birdfeed status\n`);

    // Before anything starts or is saved: a database that is not the demo's is left as it was.
    if (databaseKind === 'postgres') await refuseForeignTargets(database.db);

    // --- the sandbox, continuing the world of the last run -------------------------------------
    const state = readDemoState(options.home) ?? {
      version: 1 as const,
      seed: SANDBOX_SEED,
      // Whole seconds: the epoch is part of the world's identity and is stored as an integer.
      epochMs: Math.floor(Date.now() / 1000) * 1000,
      sandboxNowMs: Math.floor(Date.now() / 1000) * 1000,
    };
    const sandboxOptions = {
      seed: state.seed,
      epochMs: state.epochMs,
      accounts: sandboxAccountsFor(options.accounts),
      timeScale: options.timeScale,
    };
    let sandbox: RunningSandbox;
    try {
      sandbox = await startSandbox({ ...sandboxOptions, port: options.sandboxPort });
    } catch (error) {
      if (!isAddressInUse(error) || options.sandboxPort === 0) throw error;
      sandbox = await startSandbox({ ...sandboxOptions, port: 0 });
    }
    const saveState = () =>
      writeDemoState(options.home, {
        ...state,
        sandboxNowMs: Math.floor(sandbox.clock.now()),
      });
    cleanups.push({ name: 'sandbox', run: () => sandbox.stop() });
    cleanups.push({ name: 'demo state', run: saveState });
    if (state.sandboxNowMs > state.epochMs)
      sandbox.clock.advance(state.sandboxNowMs - state.epochMs);
    saveState();
    out.write(
      `  sandbox   ${sandbox.url}  (X and agntdata, ${sandboxOptions.accounts} accounts, time x${options.timeScale}, sandbox time ${new Date(sandbox.clock.now()).toISOString()})\n`,
    );

    // --- migrate and the watchlist --------------------------------------------------------------
    const migrated = await migrate(database.db);
    const targets = await pickDemoTargets(sandbox.url, options.accounts);
    const loaded = await loadDemoWatchlist(database.db, targets, options);
    out.write(
      `  schema    ${migrated.applied.length} migration(s) applied, ${migrated.alreadyApplied} already there\n`,
    );
    out.write(
      `  watchlist ${targets.length} sandbox accounts (${count(targets, 'x')} via x, ${count(targets, 'agntdata')} via agntdata, every ${options.everySeconds}s): ${loaded.added} added, ${loaded.kept} kept\n`,
    );

    // --- the crawl ------------------------------------------------------------------------------
    const budgets = new Map<ProviderName, BudgetLeft>();
    let notice: string | null = null;
    let crawlDone: Promise<void> = Promise.resolve();
    let readBudgets: () => Promise<BudgetLeft[]> = async () => [...budgets.values()];

    if (queue.kind === 'bullmq') {
      const logDir = join(options.home, 'logs');
      const childEnv: NodeJS.ProcessEnv = {
        ...process.env,
        DATABASE_URL: databaseUrl,
        REDIS_URL: queue.redisUrl,
        BIRDFEED_QUEUE_PREFIX: options.queuePrefix,
        X_API_BASE_URL: sandbox.url,
        X_BEARER_TOKEN: DEFAULT_X_BEARER_TOKEN,
        AGNTDATA_BASE_URL: sandbox.url,
        AGNTDATA_API_KEY: DEFAULT_AGNTDATA_API_KEY,
        // The sandbox's budgets are in sandbox time: scale the limiters the same way.
        X_RATE_LIMIT_MAX: '1500',
        X_RATE_LIMIT_WINDOW_MS: String(Math.max(1000, Math.round(900_000 / options.timeScale))),
        AGNTDATA_RATE_LIMIT_PER_MINUTE: String(Math.max(1, Math.floor(60 * options.timeScale))),
        SCHEDULER_TICK_MS: '1000',
        WORKER_CONCURRENCY: '4',
      };
      children = [
        spawnChild({ name: 'scheduler', command: 'scheduler', args: [], env: childEnv, logDir }),
        ...Array.from({ length: options.workers }, (_, i) =>
          spawnChild({
            name: `worker-${i + 1}`,
            command: 'worker',
            args: [],
            env: childEnv,
            logDir,
          }),
        ),
      ];
      cleanups.push({
        name: 'children',
        run: async () => {
          const problems = await stopChildren(children);
          if (problems.length > 0) throw new Error(problems.join('; '));
        },
      });
      out.write(
        `  processes scheduler + ${options.workers} worker(s), pids ${children.map((child) => child.process.pid).join(', ')}; logs in ${logDir}\n`,
      );
      for (const child of children) {
        void child.exited.then(({ code, signal }) => {
          if (!stop.signal.aborted) {
            notice = `${child.name} exited (code ${code ?? signal}); see ${child.logPath}`;
          }
        });
      }
      const redis = createRedisConnection({
        url: queue.redisUrl,
        role: 'producer',
        connectionName: `birdfeed-demo-${process.pid}`,
      });
      cleanups.push({ name: 'redis', run: () => redis.quit() });
      readBudgets = async () =>
        (await queueStatus({ connection: redis, prefix: options.queuePrefix })).map((status) => ({
          provider: status.provider,
          remaining: status.limiter.remaining,
          limit: status.limiter.max,
          limited: status.limiter.rateLimited,
        }));
    } else {
      const clients: Record<ProviderName, CrawlClient & { close(): Promise<void> }> = {
        x: createXClient({ baseUrl: sandbox.url, bearerToken: DEFAULT_X_BEARER_TOKEN }),
        agntdata: createAgntdataClient({ baseUrl: sandbox.url, apiKey: DEFAULT_AGNTDATA_API_KEY }),
      };
      cleanups.push({
        name: 'provider clients',
        run: () => Promise.all(Object.values(clients).map((client) => client.close())),
      });
      crawlDone = runInProcessCrawl({
        db: database.db,
        clients,
        tickMs: 1000,
        stop: stop.signal,
        onStep: (step) => {
          if (step.rateLimit !== null) {
            budgets.set(step.provider, {
              provider: step.provider,
              remaining: step.rateLimit.remaining,
              limit: step.rateLimit.limit,
              limited: step.rateLimit.remaining === 0,
            });
          }
        },
        onNotice: (message) => {
          notice = message;
        },
      });
      cleanups.push({ name: 'in-process crawl', run: () => crawlDone });
    }
    out.write('\n');

    // --- progress until Ctrl-C ------------------------------------------------------------------
    const printer = new ProgressPrinter(out, out.isTTY === true && !options.plain);
    let lastSave = Date.now();
    while (!stop.signal.aborted) {
      try {
        const [snapshot, budgetList] = await Promise.all([
          readProgress(database.db),
          readBudgets().catch(() => [...budgets.values()]),
        ]);
        printer.update(snapshot, budgetList, notice, Date.now() - started);
      } catch (error) {
        if (!stop.signal.aborted) printer.message(`progress: ${(error as Error).message}`);
      }
      if (Date.now() - lastSave > 5000) {
        saveState();
        lastSave = Date.now();
      }
      await sleep(1000, undefined, { signal: stop.signal }).catch(() => {});
    }
    const problems = await shutdown();
    if (problems.length > 0) {
      process.stderr.write(`demo: shutdown was not clean:\n  ${problems.join('\n  ')}\n`);
      return 1;
    }
    out.write(
      `demo stopped cleanly; data kept in ${databaseKind === 'pglite' ? pgliteDir(options) : redact(databaseUrl)}. Run it again to resume.\n`,
    );
    return 0;
  } catch (error) {
    const problems = await shutdown();
    if (problems.length > 0) process.stderr.write(`demo: also: ${problems.join('; ')}\n`);
    const name = (error as Error).name;
    if (
      error instanceof DemoUsageError ||
      name === 'RedisUnreachableError' ||
      name === 'RedisPolicyError' ||
      name === 'DatabaseInUseError'
    ) {
      process.stderr.write(`birdfeed demo: ${(error as Error).message}\n`);
      return 1;
    }
    throw error;
  }
}
