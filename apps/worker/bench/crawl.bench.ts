/**
 * `pnpm bench:crawl`: the BullMQ pipeline end to end, against the sandbox over HTTP.
 *
 * 1. Throughput: 200 sandbox accounts × 500 tweets (pre-rendered before the clock), one
 *    scheduler tick and two `birdfeed worker` processes, no rate limit. Tweets/s from the first
 *    enqueue until Postgres holds the sandbox's truth; then, in the same run, the COPY ceiling of
 *    the same rows (COPY TO out of the crawled database, COPY FROM into a freshly migrated empty
 *    one, one connection, the fastest of BENCH_COPY_PASSES passes) and the ratio of the two.
 * 2. Budget: a time-scaled sandbox whose X window allows L requests; two worker processes with
 *    the limiter set to the same L. Requests made / requests allowed over whole windows of
 *    wall time, and the 429s the sandbox sent.
 *
 * Last line: `bench:crawl ratio=R budget_used=U rate_limited=N`.
 *
 * Env: BENCH_ADMIN_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres),
 * REDIS_URL (default redis://127.0.0.1:6379), BENCH_ACCOUNTS (200), BENCH_TWEETS (500),
 * BENCH_CONCURRENCY (per worker process, 4), BENCH_SKIP_BUDGET=1 / BENCH_SKIP_THROUGHPUT=1 to run
 * one part only, BENCH_BUDGET_LIMIT (40), BENCH_BUDGET_WINDOW_MS (30000), BENCH_BUDGET_WINDOWS (3).
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';
import { migrate, openDatabase } from '@birdfeed/db';
import { crawlQueueName, createRedisConnection } from '@birdfeed/jobs';
import type { ProviderName } from '@birdfeed/model';
import { createAgntdataClient, createXClient, type TimelineClient } from '@birdfeed/providers';
import { Queue } from 'bullmq';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import pino from 'pino';
import { parseSchedulerEnv } from '../../scheduler/src/env.ts';
import { startScheduler } from '../../scheduler/src/main.ts';
import {
  type AppProcess,
  type CrawlFixture,
  createCrawlFixture,
  diffWithTruth,
  isExact,
  runOutcomes,
  spawnApp,
  waitUntil,
  watchAccounts,
} from '../test/harness.ts';

const ADMIN_URL =
  process.env.BENCH_ADMIN_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 200);
const TWEETS = Number(process.env.BENCH_TWEETS ?? 500);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);
/**
 * Accounts the workers crawl before the clock starts (then every table is emptied): a worker
 * runs for months, and its first thousand pages pay V8's compilation of the code they run
 * (measured: a fifth of a cold worker's CPU over a 10 s crawl). 0 measures cold workers.
 */
const WARMUP_ACCOUNTS = Number(process.env.BENCH_WARMUP_ACCOUNTS ?? 100);
/** COPY passes into the empty database; the fastest is the ceiling. */
const COPY_PASSES = Number(process.env.BENCH_COPY_PASSES ?? 3);
/** Extra node flags for the worker processes, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`. */
const WORKER_NODE_ARGS = (process.env.BENCH_WORKER_NODE_ARGS ?? '')
  .split(' ')
  .filter((arg) => arg !== '');
/**
 * x (default): every tweet, no faces. agntdata: only tweets with media, but each with faces in
 * four sizes and focus rects, the row shape DESIGN.md's write measurements used.
 */
const PROVIDER: ProviderName = process.env.BENCH_PROVIDER === 'agntdata' ? 'agntdata' : 'x';

/** The tables a crawl fills with content. */
const CONTENT_TABLES = [
  'users',
  'tweets',
  'media',
  'tweet_media',
  'media_faces',
  'media_focus_rects',
  'tweet_references',
  'tweet_metrics',
  'user_metrics',
];
/**
 * Everything the pipeline writes per page: the content plus the raw body of every response
 * (kept so a better normalizer can replay history). Crawl bookkeeping (runs, checkpoints,
 * spend: a few rows per account) is left out.
 */
const WRITTEN_TABLES = [...CONTENT_TABLES, 'raw_pages'];

const silent = pino({ level: 'silent' });
const log = (line: string) => process.stdout.write(`${line}\n`);
const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

function databaseUrl(name: string): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function createDatabase(name: string): Promise<() => Promise<void>> {
  await admin((client) => client.query(`CREATE DATABASE "${name}"`));
  return async () => {
    await admin((client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
  };
}

/** CPU seconds (user + system) a process has used, from /proc (Linux). */
function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** CPU seconds of every Postgres server process (all databases: other load included). */
function postgresCpuSeconds(): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === 'postgres') {
        total += cpuSecondsOf(Number(entry));
      }
    } catch {
      // the process ended meanwhile
    }
  }
  return total;
}

/**
 * Every worker process the bench started and has not seen exit: a bench that fails (workers
 * that never say ready) or is stopped (Ctrl-C, `timeout`) must not leave them crawling on.
 */
const liveWorkers = new Set<AppProcess>();
process.once('exit', () => {
  for (const app of liveWorkers) app.child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => process.exit(signal === 'SIGINT' ? 130 : 143));
}

async function startWorkerProcesses(env: Record<string, string>, count: number) {
  const apps: AppProcess[] = [];
  for (let i = 0; i < count; i += 1) {
    const app = spawnApp('worker', ['--concurrency', String(CONCURRENCY)], env, WORKER_NODE_ARGS);
    liveWorkers.add(app);
    void app.exited.then(() => liveWorkers.delete(app));
    apps.push(app);
  }
  try {
    await waitUntil(
      () => (apps.every((app) => /worker ready/.test(app.output())) ? true : undefined),
      30_000,
      'worker processes to start',
    );
  } catch (error) {
    for (const app of apps) app.child.kill('SIGKILL');
    throw error;
  }
  return apps;
}

async function stopWorkerProcesses(apps: AppProcess[]) {
  for (const app of apps) app.child.kill('SIGTERM');
  const codes = await Promise.all(apps.map((app) => app.exited));
  for (const [i, code] of codes.entries()) {
    if (code !== 0) {
      log(`worker ${i} exited with ${code}:\n${apps[i]?.output().slice(-2000)}`);
    }
  }
}

/**
 * Reads every account's timeline once, as the workers will, before the clock starts: the
 * sandbox renders each tweet's JSON on first use and serves it from its cache afterwards. A
 * real provider renders on its own machines; without this the sandbox's first renders would
 * be a fifth of the two cores' CPU, charged to the pipeline. Returns the requests made.
 */
async function prewarmSandbox(fixture: CrawlFixture, userIds: readonly string[]): Promise<number> {
  const { sandbox } = fixture;
  const client: TimelineClient =
    PROVIDER === 'x'
      ? createXClient({
          baseUrl: sandbox.url,
          bearerToken: sandbox.xBearerTokens[0] ?? '',
          maxResults: 100,
        })
      : createAgntdataClient({
          baseUrl: sandbox.url,
          apiKey: sandbox.agntdataApiKeys[0] ?? '',
          limit: 100,
        });
  let requests = 0;
  const queue = [...userIds];
  const reader = async () => {
    for (let userId = queue.pop(); userId !== undefined; userId = queue.pop()) {
      let cursor: string | null = null;
      do {
        const fetched = await client.fetchTimelinePage({ userId, cursor });
        requests += 1;
        cursor = fetched.page.cursor.next;
      } while (cursor !== null);
    }
  };
  try {
    await Promise.all([reader(), reader(), reader(), reader()]);
  } finally {
    await client.close();
  }
  return requests;
}

/** Waits until `count` runs have succeeded; a failed run ends the bench. */
async function runsSucceeded(fixture: CrawlFixture, count: number, what: string): Promise<void> {
  await waitUntil(
    async () => {
      const outcomes = await runOutcomes(fixture);
      if ((outcomes.failed ?? 0) > 0) throw new Error(`runs failed: ${JSON.stringify(outcomes)}`);
      return (outcomes.succeeded ?? 0) === count ? true : undefined;
    },
    15 * 60_000,
    what,
    100,
  );
}

/** Every table a crawl writes, bookkeeping included: emptied after the warm-up. */
const ALL_TABLES = [
  ...WRITTEN_TABLES,
  'watch_targets',
  'crawl_checkpoints',
  'crawl_runs',
  'crawl_failures',
  'crawl_gaps',
  'provider_spend',
];

/**
 * Crawls the warm-up accounts through the same scheduler, queue and worker processes, then
 * empties every table, so the measured crawl starts from an empty database with workers in
 * their steady state.
 */
async function warmUpWorkers(
  fixture: CrawlFixture,
  env: Record<string, string>,
  warmupIds: readonly string[],
): Promise<void> {
  const started = performance.now();
  await watchAccounts(fixture, warmupIds, PROVIDER);
  const tick = await tickOnce(env);
  if (tick.enqueued !== warmupIds.length) throw new Error(`warm-up enqueued ${tick.enqueued}`);
  await runsSucceeded(fixture, warmupIds.length, 'the warm-up runs to finish');
  await fixture.pool.query(`TRUNCATE ${ALL_TABLES.join(', ')} RESTART IDENTITY CASCADE`);
  log(
    `warm-up: ${warmupIds.length} other accounts crawled by the same workers in ${fmt((performance.now() - started) / 1000, 1)} s, then every table emptied`,
  );
}

async function tickOnce(env: Record<string, string>) {
  const scheduler = await startScheduler({ env: parseSchedulerEnv(env), logger: silent });
  try {
    return await scheduler.tick();
  } finally {
    await scheduler.close();
  }
}

async function obliterate(prefix: string) {
  const redis = createRedisConnection({ url: REDIS_URL, role: 'producer' });
  try {
    for (const provider of ['x', 'agntdata'] as const) {
      const queue = new Queue(crawlQueueName(provider), { connection: redis, prefix });
      await queue.obliterate({ force: true }).catch(() => {});
      await queue.close();
    }
    await redis.del(`${prefix}:birdfeed:queues`);
  } finally {
    await redis.quit();
  }
}

interface CopyTiming {
  /** ms to COPY the content tables. */
  contentMs: number;
  /** ms to COPY the content tables and raw_pages. */
  allMs: number;
  contentRows: number;
  rawPages: number;
  rawBytes: number;
}

/**
 * COPY the tables out of `fromUrl` into memory, then into the empty, freshly migrated `toUrl`
 * (indexes and constraints in place, as the pipeline had them), one connection, timed per
 * table.
 */
async function copyCeiling(fromUrl: string, toUrl: string): Promise<CopyTiming> {
  const source = new pg.Client({ connectionString: fromUrl });
  await source.connect();
  const dumps = new Map<string, Buffer>();
  const counts = new Map<string, number>();
  try {
    for (const table of WRITTEN_TABLES) {
      const chunks: Buffer[] = [];
      const stream = source.query(copyTo(`COPY ${table} TO STDOUT`));
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      dumps.set(table, Buffer.concat(chunks));
      const count = await source.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
      counts.set(table, Number(count.rows[0]?.n ?? 0));
    }
  } finally {
    await source.end();
  }
  const target = new pg.Client({ connectionString: toUrl });
  await target.connect();
  const sum = (tables: string[], map: Map<string, number>) =>
    tables.reduce((total, table) => total + (map.get(table) ?? 0), 0);
  // The fastest of a few passes: one pass swings by ±15% with whatever else the two cores do,
  // and a ceiling should not be lowered by a slow moment.
  const passes: { contentMs: number; allMs: number }[] = [];
  try {
    for (let pass = 0; pass < COPY_PASSES; pass += 1) {
      if (pass > 0) await target.query(`TRUNCATE ${WRITTEN_TABLES.join(', ')} RESTART IDENTITY`);
      const ms = new Map<string, number>();
      for (const table of WRITTEN_TABLES) {
        const data = dumps.get(table) as Buffer;
        const started = performance.now();
        await pipeline(
          (async function* () {
            // 1 MiB chunks, as a client streaming its rows would send them.
            for (let at = 0; at < data.length; at += 1 << 20)
              yield data.subarray(at, at + (1 << 20));
          })(),
          target.query(copyFrom(`COPY ${table} FROM STDIN`)),
        );
        ms.set(table, performance.now() - started);
      }
      passes.push({ contentMs: sum(CONTENT_TABLES, ms), allMs: sum(WRITTEN_TABLES, ms) });
    }
  } finally {
    await target.end();
  }
  log(
    `COPY passes (content / everything, s): ${passes.map((p) => `${fmt(p.contentMs / 1000, 2)} / ${fmt(p.allMs / 1000, 2)}`).join(', ')}`,
  );
  return {
    contentMs: Math.min(...passes.map((p) => p.contentMs)),
    allMs: Math.min(...passes.map((p) => p.allMs)),
    contentRows: sum(CONTENT_TABLES, counts),
    rawPages: counts.get('raw_pages') ?? 0,
    rawBytes: dumps.get('raw_pages')?.length ?? 0,
  };
}

async function throughputRun(suffix: string): Promise<number> {
  const crawlDb = `bf_bench_crawl_${suffix}`;
  const copyDb = `bf_bench_crawl_${suffix}_copy`;
  const dropCrawl = await createDatabase(crawlDb);
  const dropCopy = await createDatabase(copyDb);
  const prefix = `bf-bench-crawl-${suffix}`;
  let fixture: CrawlFixture | undefined;
  let workers: AppProcess[] = [];
  try {
    fixture = await createCrawlFixture({
      databaseUrl: databaseUrl(crawlDb),
      redisUrl: REDIS_URL,
      prefix,
      sandbox: {
        seed: 'bench-crawl',
        accounts: ACCOUNTS + WARMUP_ACCOUNTS,
        specialAccounts: false,
        tweetsPerAccount: TWEETS,
        frozen: true,
        xRateLimit: 1_000_000,
        agntdataRequestsPerMinute: 1_000_000,
        shortPageRate: 0,
        emptyPageRate: 0,
        tweetCacheSize: (ACCOUNTS + WARMUP_ACCOUNTS) * TWEETS + 10_000,
      },
    });
    const allIds = fixture.sandbox.accounts().map((account) => account.id);
    const userIds = allIds.slice(0, ACCOUNTS);
    const warmupIds = allIds.slice(ACCOUNTS);
    const env = fixture.env({
      X_RATE_LIMIT_MAX: '1000000',
      AGNTDATA_RATE_LIMIT_PER_MINUTE: '1000000',
      WORKER_X_PAGE_SIZE: '100',
      WORKER_AGNTDATA_PAGE_SIZE: '100',
      LOG_LEVEL: 'info',
    });
    await prewarmSandbox(fixture, allIds);
    workers = await startWorkerProcesses(env, 2);
    if (warmupIds.length > 0) await warmUpWorkers(fixture, env, warmupIds);
    await watchAccounts(fixture, userIds, PROVIDER);
    const sandbox = fixture.sandbox;
    const requestsBefore = sandbox.stats().requests.total;
    const expectedTweets =
      PROVIDER === 'x'
        ? ACCOUNTS * TWEETS
        : userIds.reduce(
            (sum, id) => sum + sandbox.truth(id).tweets.filter((t) => t.media.length > 0).length,
            0,
          );

    const workerCpuBefore = workers.reduce((sum, app) => sum + cpuSecondsOf(app.child.pid ?? 0), 0);
    const postgresCpuBefore = postgresCpuSeconds();
    const benchCpuBefore = process.cpuUsage();
    const started = performance.now();
    const tick = await tickOnce(env);
    const tickSeconds = (performance.now() - started) / 1000;
    if (tick.enqueued !== ACCOUNTS) throw new Error(`tick enqueued ${tick.enqueued} runs`);
    await runsSucceeded(fixture, ACCOUNTS, 'every run to finish');
    const seconds = (performance.now() - started) / 1000;
    const workerCpu =
      workers.reduce((sum, app) => sum + cpuSecondsOf(app.child.pid ?? 0), 0) - workerCpuBefore;
    const postgresCpu = postgresCpuSeconds() - postgresCpuBefore;
    const benchCpuUsage = process.cpuUsage(benchCpuBefore);
    const benchCpu = (benchCpuUsage.user + benchCpuUsage.system) / 1e6;
    await stopWorkerProcesses(workers);
    workers = [];

    // The database holds the truth: every timeline tweet of every account, and for a sample
    // the media links too.
    const perAuthor = await fixture.pool.query<{ n: string }>(
      'SELECT count(*) AS n FROM tweets WHERE author_id = ANY($1::bigint[])',
      [userIds],
    );
    const stored = Number(perAuthor.rows[0]?.n ?? 0);
    if (stored !== expectedTweets)
      throw new Error(`expected ${expectedTweets} tweets, found ${stored}`);
    for (const userId of userIds.filter((_, i) => i % 20 === 0)) {
      const diff = await diffWithTruth(fixture, userId, PROVIDER);
      if (!isExact(diff)) throw new Error(`not the truth: ${JSON.stringify(diff)}`);
    }
    const requests = fixture.sandbox.stats().requests.total - requestsBefore;
    const rate = expectedTweets / seconds;
    const cpu = workerCpu + postgresCpu + benchCpu;
    log(
      `CPU while crawling: ${fmt(cpu, 1)} s in ${fmt(seconds, 1)} s of wall time: Postgres ${fmt((100 * postgresCpu) / cpu)}% (every database on the server), the 2 workers ${fmt((100 * workerCpu) / cpu)}%, sandbox + scheduler (this process) ${fmt((100 * benchCpu) / cpu)}%`,
    );
    log(
      `pipeline (${PROVIDER}): ${fmt(expectedTweets)} tweets (${ACCOUNTS} accounts × ${TWEETS}${PROVIDER === 'agntdata' ? ', those with media' : ''}) in ${fmt(seconds, 1)} s = ${fmt(rate)} tweets/s (${requests} page requests, 2 worker processes × concurrency ${CONCURRENCY}${warmupIds.length > 0 ? `, warmed up on ${warmupIds.length} other accounts` : ', cold'}, 1 scheduler tick of ${fmt(tickSeconds, 2)} s)`,
    );

    await fixture.close();
    fixture = undefined;
    const copyTarget = await openDatabase({ url: databaseUrl(copyDb) });
    await migrate(copyTarget.db);
    await copyTarget.close();
    const copy = await copyCeiling(databaseUrl(crawlDb), databaseUrl(copyDb));
    const contentRate = expectedTweets / (copy.contentMs / 1000);
    const allRate = expectedTweets / (copy.allMs / 1000);
    log(
      `COPY ceiling, content: the same ${fmt(copy.contentRows)} rows of ${CONTENT_TABLES.length} content tables into empty tables in ${fmt(copy.contentMs / 1000, 2)} s = ${fmt(contentRate)} tweets/s → ratio ${(rate / contentRate).toFixed(2)}`,
    );
    log(
      `COPY ceiling, everything the pipeline wrote (content + ${fmt(copy.rawPages)} raw pages, ${fmt(copy.rawBytes / 1e6, 1)} MB): ${fmt(copy.allMs / 1000, 2)} s = ${fmt(allRate)} tweets/s → ratio ${(rate / allRate).toFixed(2)}`,
    );
    const ratio = rate / allRate;
    log(`ratio: ${ratio.toFixed(2)} of COPY of the same rows (target ≥ 0.40)`);
    return ratio;
  } finally {
    if (workers.length > 0) await stopWorkerProcesses(workers);
    await fixture?.close().catch(() => {});
    await obliterate(prefix);
    await dropCrawl();
    await dropCopy();
  }
}

async function budgetRun(suffix: string): Promise<{ used: number; rateLimited: number }> {
  const limit = Number(process.env.BENCH_BUDGET_LIMIT ?? 40);
  const windowWallMs = Number(process.env.BENCH_BUDGET_WINDOW_MS ?? 30_000);
  const windows = Number(process.env.BENCH_BUDGET_WINDOWS ?? 3);
  const windowSandboxMs = 15 * 60_000;
  const dbName = `bf_bench_budget_${suffix}`;
  const drop = await createDatabase(dbName);
  const prefix = `bf-bench-budget-${suffix}`;
  let fixture: CrawlFixture | undefined;
  let workers: AppProcess[] = [];
  try {
    fixture = await createCrawlFixture({
      databaseUrl: databaseUrl(dbName),
      redisUrl: REDIS_URL,
      prefix,
      sandbox: {
        seed: 'bench-budget',
        // More pages than the windows measured can take: the budget is the bound.
        accounts: 40,
        specialAccounts: false,
        tweetsPerAccount: 300,
        activity: 'silent',
        timeScale: windowSandboxMs / windowWallMs,
        xRateLimit: limit,
        xRateLimitWindowMs: windowSandboxMs,
      },
    });
    const userIds = fixture.sandbox.accounts().map((account) => account.id);
    await watchAccounts(fixture, userIds, 'x');
    const env = fixture.env({
      X_RATE_LIMIT_MAX: String(limit),
      X_RATE_LIMIT_WINDOW_MS: String(windowWallMs),
      WORKER_X_PAGE_SIZE: '20',
      LOG_LEVEL: 'info',
    });
    workers = await startWorkerProcesses(env, 2);
    await tickOnce(env);
    // Budget use over time: the run takes requests as fast as the windows allow. Request
    // number windows × limit is the first of window windows + 1; had no time been lost between
    // a reset and the next request, it would come exactly windows × W after the first one.
    const sandbox = fixture.sandbox;
    const made = windows * limit;
    const times = await waitUntil(
      () => {
        const at = sandbox
          .requests()
          .filter((entry) => entry.provider === 'x')
          .map((entry) => Date.parse(entry.at))
          .sort((a, b) => a - b);
        return at.length > made ? at : undefined;
      },
      windows * windowWallMs * 3 + 30_000,
      `${made + 1} requests`,
      50,
    );
    const elapsed = (times[made] as number) - (times[0] as number);
    // How long after each provider reset the next window's first request came.
    const lateness: number[] = [];
    for (let k = 1; k <= windows; k += 1) {
      const opened = times[(k - 1) * limit] as number;
      lateness.push((times[k * limit] as number) - (opened + windowWallMs));
    }
    const allowed = (limit * elapsed) / windowWallMs;
    const rateLimited = sandbox.stats().rate_limited.total;
    await stopWorkerProcesses(workers);
    workers = [];
    const used = made / allowed;
    log(
      `budget: ${made} requests in ${fmt(elapsed / 1000, 2)} s where ${limit} per ${windowWallMs / 1000} s window allow ${fmt(allowed, 1)} (2 worker processes sharing one credential, limiter = provider limit) = ${used.toFixed(2)} of the budget (target ≥ 0.95); 429s received: ${rateLimited} (target 0); first request after each reset came ${lateness.map((ms) => fmt(ms)).join(', ')} ms late (the reset header has whole seconds)`,
    );
    return { used, rateLimited };
  } finally {
    if (workers.length > 0) await stopWorkerProcesses(workers);
    await fixture?.close().catch(() => {});
    await obliterate(prefix);
    await drop();
  }
}

async function main() {
  const suffix = randomUUID().replaceAll('-', '').slice(0, 8);
  const ratio =
    process.env.BENCH_SKIP_THROUGHPUT === '1' ? Number.NaN : await throughputRun(suffix);
  const budget =
    process.env.BENCH_SKIP_BUDGET === '1'
      ? { used: Number.NaN, rateLimited: Number.NaN }
      : await budgetRun(suffix);
  log(
    `bench:crawl ratio=${ratio.toFixed(2)} budget_used=${budget.used.toFixed(2)} rate_limited=${budget.rateLimited}`,
  );
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(
      `bench:crawl failed: ${error instanceof Error ? error.stack : String(error)}\n`,
    );
    process.exit(1);
  },
);
