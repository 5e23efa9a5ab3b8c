import {
  type CrawlClient,
  type CrawlOnceResult,
  crawlOnce,
  MigrationsMissingError,
  openCrawlDatabase,
  type SharedRequestLimiter,
  type TargetCrawlSummary,
} from '@birdfeed/crawl';
import { listTargets, type TargetKey } from '@birdfeed/db';
import { PROVIDER_NAMES, type ProviderName } from '@birdfeed/model';
import { createAgntdataClient, createXClient, type TimelineClient } from '@birdfeed/providers';
import { pino } from 'pino';
import type { z } from 'zod';
import {
  credentialLabel,
  credentialLabelFor,
  envSchema,
  parseEnvWith,
  requestBudgetFor,
} from '../env.ts';
import { createLogger } from '../logger.ts';
import { parseCommandArgs, parseIntegerFlag, userIdProblem } from './command-args.ts';
import { databaseOptions } from './database-options.ts';

const USAGE = `usage: birdfeed crawl --once [--user ID] [--provider x|agntdata] [--concurrency N]
                      [--json] [--verbose]

Runs the crawl step in this process, without the queues: every due target (or the one given with
--user) is crawled to the end of its window (a new target first backfills). 5xx and timeouts
are retried with backoff, a 429 is slept through until its reset. One summary line per
target; exit 0 when all succeeded, 1 otherwise (a failure, an account marked unavailable or
failing, a provider without credentials or over its daily budget, a target busy in another
process).
A target whose unfinished run another process (a worker, another crawl --once) was active on
in the last 16 minutes is reported busy and not crawled; an older one is taken over. The
continuous mode is \`birdfeed scheduler\` + \`birdfeed worker\`.

With REDIS_URL set (and BIRDFEED_QUEUE_PREFIX, X_CREDENTIAL_LABEL, AGNTDATA_CREDENTIAL_LABEL
as the workers have them), a target whose run has a page job in the workers' queue (waiting,
active or delayed) is left to the workers and reported not crawled (exit 1); a Redis that does
not answer stops the command. Without REDIS_URL it cannot see the queue: a run whose next page
has waited there more than 16 minutes (behind a backlog, or a spent X budget) looks idle and
is taken over, and then the workers and this process both fetch, and pay for, its pages. So
next to running workers, set REDIS_URL.

Requests are limited in this process as the workers limit theirs: X_RATE_LIMIT_MAX per
X_RATE_LIMIT_WINDOW_MS (1500 per 15 minutes), AGNTDATA_RATE_LIMIT_PER_MINUTE (60); when the
budget of a window is used up it waits for the next one (and says so on stderr), and a
response saying the provider's window is spent holds every request until its reset. With
REDIS_URL set, every request is also taken from the workers' limiter in Redis (their queue's
limit, or these variables before a worker set one), and such a hold is set there too, so this
process and running workers share one budget. Without REDIS_URL they share it only through the
provider's own headers: give each a budget so that together they stay within the provider's.

environment: DATABASE_URL (unset: PGlite under .birdfeed/pgdata), REDIS_URL,
BIRDFEED_QUEUE_PREFIX, X_CREDENTIAL_LABEL, AGNTDATA_CREDENTIAL_LABEL, X_API_BASE_URL,
X_BEARER_TOKEN, X_RATE_LIMIT_MAX, X_RATE_LIMIT_WINDOW_MS, AGNTDATA_BASE_URL,
AGNTDATA_API_KEY, AGNTDATA_RATE_LIMIT_PER_MINUTE, AGNTDATA_DAILY_BUDGET_CENTS, LOG_LEVEL
(with --verbose).
`;

/** The shared schema plus the credential labels, which name the workers' queues. */
const crawlEnvSchema = envSchema.extend({
  X_CREDENTIAL_LABEL: credentialLabel,
  AGNTDATA_CREDENTIAL_LABEL: credentialLabel,
});

type CrawlEnv = z.infer<typeof crawlEnvSchema>;

/**
 * With REDIS_URL: asks the workers' queues whether a target's run is in flight there. Loaded
 * only then, so without Redis the one-shot never loads BullMQ. Throws when Redis does not answer.
 */
async function openQueueCheck(
  env: CrawlEnv,
  redisUrl: string,
): Promise<{
  queuedJobOf: (key: TargetKey) => Promise<string | null>;
  sharedLimiters: Record<ProviderName, SharedRequestLimiter>;
  close: () => Promise<void>;
}> {
  const { createRedisConnection, openQueuedRunProbe, openSharedLimiter, probeRedis } = await import(
    '@birdfeed/jobs'
  );
  // A Redis that accepts and never answers would otherwise hang the first check for good.
  await probeRedis(redisUrl, async () => undefined);
  const connection = createRedisConnection({
    url: redisUrl,
    role: 'producer',
    connectionName: `birdfeed-crawl-once-${process.pid}`,
    // Every command here is a quick read or a script: one that hangs is a Redis gone silent.
    commandTimeoutMs: 5_000,
  });
  // A Redis gone mid-crawl fails its check (the target is then not crawled), not the process.
  connection.on('error', () => {});
  const probe = openQueuedRunProbe({
    connection,
    prefix: env.BIRDFEED_QUEUE_PREFIX,
    credentialLabels: { x: env.X_CREDENTIAL_LABEL, agntdata: env.AGNTDATA_CREDENTIAL_LABEL },
  });
  const shared = (provider: ProviderName) =>
    openSharedLimiter({
      connection,
      prefix: env.BIRDFEED_QUEUE_PREFIX,
      provider,
      credentialLabel: credentialLabelFor(env, provider),
      ...requestBudgetFor(env, provider),
    });
  return {
    queuedJobOf: (key) => probe.jobIdOf(key.provider, key.userId),
    sharedLimiters: { x: shared('x'), agntdata: shared('agntdata') },
    close: async () => {
      await probe.close();
      connection.disconnect();
    },
  };
}

/** The worker's request budget of a provider: the same variables, the same defaults. */
function parseOptions(args: string[]) {
  return parseCommandArgs({
    args,
    allowPositionals: false,
    strict: true,
    options: {
      once: { type: 'boolean', default: false },
      user: { type: 'string' },
      provider: { type: 'string' },
      concurrency: { type: 'string' },
      json: { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}

function usageError(message: string): number {
  process.stderr.write(`crawl: ${message}\n\n${USAGE}`);
  return 2;
}

export async function main(argv: string[]): Promise<number> {
  let values: ReturnType<typeof parseOptions>['values'];
  try {
    values = parseOptions(argv).values;
  } catch (error) {
    return usageError((error as Error).message);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!values.once) {
    return usageError(
      'only the one-shot mode lives here: add --once (the continuous mode is `birdfeed scheduler` + `birdfeed worker`)',
    );
  }
  let provider: ProviderName | undefined;
  if (values.provider !== undefined) {
    if (!(PROVIDER_NAMES as readonly string[]).includes(values.provider)) {
      return usageError(
        `--provider ${JSON.stringify(values.provider)}: must be one of ${PROVIDER_NAMES.join(', ')}`,
      );
    }
    provider = values.provider as ProviderName;
  }
  const userProblem = values.user === undefined ? undefined : userIdProblem(values.user);
  if (userProblem !== undefined) {
    return usageError(`--user ${JSON.stringify(values.user)}: ${userProblem}`);
  }
  let concurrency = 2;
  if (values.concurrency !== undefined) {
    try {
      concurrency = parseIntegerFlag('concurrency', values.concurrency, 1, 64);
    } catch (error) {
      return usageError((error as Error).message);
    }
  }

  const env = parseEnvWith(crawlEnvSchema);
  // One log line per request is the worker's business; here the summary lines are the output.
  const logger = createLogger(
    'birdfeed-crawl',
    values.verbose ? env.LOG_LEVEL : 'warn',
    pino.destination(2),
  );
  let database: Awaited<ReturnType<typeof openCrawlDatabase>>;
  try {
    database = await openCrawlDatabase(databaseOptions(env));
  } catch (error) {
    if (error instanceof MigrationsMissingError) {
      process.stderr.write(`crawl: ${error.message}\n`);
      return 1;
    }
    throw error;
  }

  let queueCheck: Awaited<ReturnType<typeof openQueueCheck>> | undefined;
  if (env.REDIS_URL !== undefined) {
    try {
      queueCheck = await openQueueCheck(env, env.REDIS_URL);
    } catch (error) {
      await database.close();
      const message = error instanceof Error ? error.message : String(error);
      process.stderr.write(
        `crawl: ${message}\nREDIS_URL is set, so crawl --once asks the workers' queues which targets they are crawling before it takes one; without an answer it could fetch (and pay for) a run twice. Unset REDIS_URL to crawl with no workers running.\n`,
      );
      return 1;
    }
  }

  const clients: Partial<Record<ProviderName, TimelineClient>> = {};
  const missingClientReasons: Partial<Record<ProviderName, string>> = {};
  if (env.X_BEARER_TOKEN !== undefined) {
    clients.x = createXClient({
      baseUrl: env.X_API_BASE_URL,
      bearerToken: env.X_BEARER_TOKEN,
      logger,
    });
  } else {
    missingClientReasons.x = 'X_BEARER_TOKEN is not set';
  }
  if (env.AGNTDATA_API_KEY !== undefined) {
    clients.agntdata = createAgntdataClient({
      baseUrl: env.AGNTDATA_BASE_URL,
      apiKey: env.AGNTDATA_API_KEY,
      logger,
    });
  } else {
    missingClientReasons.agntdata = 'AGNTDATA_API_KEY is not set';
  }

  // Ctrl-C: the page in flight is aborted (nothing half-written), the run is recorded as
  // failed and its saved cursor is where the next run resumes.
  const abort = new AbortController();
  const onSignal = () => abort.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let targets: TargetKey[] | undefined;
  if (values.user !== undefined) {
    const userId = values.user;
    targets = (provider === undefined ? PROVIDER_NAMES : [provider]).map((p) => ({
      provider: p,
      userId,
    }));
  }
  let result: CrawlOnceResult;
  try {
    if (targets !== undefined) {
      // --user: the account on whichever providers watch it (or on the one given).
      const watched = (await listTargets(database.db, { userId: values.user })).filter(
        (target) => provider === undefined || target.provider === provider,
      );
      if (watched.length === 0) {
        const on = provider === undefined ? '' : ` on ${provider}`;
        const flag = provider === undefined ? '' : ` --provider ${provider}`;
        process.stderr.write(
          `crawl: ${values.user} is not on the watchlist${on} (add it with \`birdfeed watchlist add ${values.user}${flag}\`)\n`,
        );
        return 1;
      }
      targets = watched.map(({ provider: p, userId }) => ({ provider: p, userId }));
    }
    result = await crawlOnce({
      db: database.db,
      clients: clients as Partial<Record<ProviderName, CrawlClient>>,
      missingClientReasons,
      targets,
      providers: provider === undefined ? undefined : [provider],
      agntdataDailyBudgetCents: env.AGNTDATA_DAILY_BUDGET_CENTS,
      queuedJobOf: queueCheck?.queuedJobOf,
      rateLimits: { x: requestBudgetFor(env, 'x'), agntdata: requestBudgetFor(env, 'agntdata') },
      sharedLimiters: queueCheck?.sharedLimiters,
      concurrency,
      logger,
      signal: abort.signal,
      onTargetDone: values.json
        ? undefined
        : (summary) => process.stdout.write(`${summaryLine(summary)}\n`),
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await Promise.allSettled(Object.values(clients).map((client) => client.close()));
    await queueCheck?.close();
    await database.close();
  }

  if (values.json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } else {
    for (const skipped of result.skipped) {
      const who =
        skipped.userId === undefined
          ? `${skipped.count} due target${skipped.count === 1 ? '' : 's'}`
          : skipped.userId;
      process.stdout.write(`${skipped.provider.padEnd(8)} ${who} not crawled: ${skipped.reason}\n`);
    }
    const succeeded = result.targets.filter((target) => target.outcome === 'succeeded').length;
    const notCrawled = result.skipped.reduce((sum, skipped) => sum + skipped.count, 0);
    const totals = result.targets.reduce(
      (sum, target) => ({
        pages: sum.pages + target.pages,
        tweetsNew: sum.tweetsNew + target.tweetsNew,
        costCents: sum.costCents + target.costCents,
      }),
      { pages: 0, tweetsNew: 0, costCents: 0 },
    );
    process.stdout.write(
      result.targets.length === 0 && result.skipped.length === 0
        ? 'crawl: no targets due\n'
        : `crawl: ${result.targets.length} target${result.targets.length === 1 ? '' : 's'}, ${succeeded} succeeded, ${result.targets.length - succeeded} not${notCrawled > 0 ? `, ${notCrawled} not crawled` : ''}; ${totals.pages} pages, ${totals.tweetsNew} new tweets, ${totals.costCents}¢\n`,
    );
  }
  return result.ok ? 0 : 1;
}

function summaryLine(summary: TargetCrawlSummary): string {
  const parts = [
    summary.provider.padEnd(8),
    summary.userId,
    summary.outcome,
    summary.kind ?? '',
    `pages=${summary.pages}`,
    `read=${summary.timelineTweets}`,
    `new=${summary.tweetsNew}`,
    `updated=${summary.tweetsUpdated}`,
  ];
  if (summary.costCents > 0) parts.push(`cost=${summary.costCents}¢`);
  parts.push(`since_id=${summary.sinceId ?? '-'}`);
  if (summary.retries > 0) parts.push(`retries=${summary.retries}`);
  if (summary.rateLimitWaits > 0) parts.push(`rate_limit_waits=${summary.rateLimitWaits}`);
  if (summary.cursorRestarts > 0) parts.push(`cursor_restarts=${summary.cursorRestarts}`);
  for (const gap of summary.gaps)
    parts.push(`GAP(${gap.sinceId ?? '-'}..${gap.oldestId ?? '-'}, ${gap.reason})`);
  if (summary.error !== null && summary.outcome === 'succeeded') {
    // A run that succeeded with a caveat (a window given up on empty pages): not an error.
    parts.push(`note: ${summary.error}`);
  } else if (summary.error !== null) {
    // The one-shot's own refusals (not watched, disabled, marked) read as a sentence; a
    // provider's or the database's error keeps its name, which says where it came from.
    const name = summary.errorName === 'CrawlOnceError' ? '' : `${summary.errorName ?? 'Error'}: `;
    parts.push(`error: ${name}${summary.error}`);
  }
  return parts.filter((part) => part !== '').join(' ');
}
