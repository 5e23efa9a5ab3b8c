import { EMPTY_GIVEUPS_BEFORE_FAILING, EMPTY_PAGES_BEFORE_END, formatEvery } from '@birdfeed/crawl';
import { type StatusReport, statusReport, type TargetStatus } from '@birdfeed/db';
import type { QueueStatus } from '@birdfeed/jobs';
import { PROVIDER_NAMES, type ProviderName } from '@birdfeed/model';
import { parseEnv } from '../env.ts';
import { parseCommandArgs } from './command-args.ts';
import { withCrawlDatabase } from './database-options.ts';

const USAGE = `usage: birdfeed status [--json] [--provider x|agntdata]

Per watch target: its checkpoint (since_id, open window), last run, next due time, state,
failures, gaps and runs in a row given up on empty pages; today's provider spend; and, when
REDIS_URL is set, per crawl queue its depth, the workers connected (NO WORKER when jobs wait
and none is) and the rate-limit budget left.
`;

/** The queue part, from @birdfeed/jobs; status still works (DB part only) without Redis. */
type QueueReport =
  | { configured: false; reason: string }
  | { configured: true; queues: QueueStatus[] }
  | { configured: true; error: string };

function parseOptions(args: string[]) {
  return parseCommandArgs({
    args,
    allowPositionals: false,
    strict: true,
    options: {
      json: { type: 'boolean', default: false },
      provider: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}

export async function main(argv: string[]): Promise<number> {
  let values: ReturnType<typeof parseOptions>['values'];
  try {
    values = parseOptions(argv).values;
  } catch (error) {
    process.stderr.write(`status: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  let provider: ProviderName | undefined;
  if (values.provider !== undefined) {
    if (!(PROVIDER_NAMES as readonly string[]).includes(values.provider)) {
      process.stderr.write(
        `status: --provider ${JSON.stringify(values.provider)}: must be one of ${PROVIDER_NAMES.join(', ')}\n`,
      );
      return 2;
    }
    provider = values.provider as ProviderName;
  }
  const env = parseEnv();
  let report: StatusReport | undefined;
  const code = await withCrawlDatabase('status', env, async (db) => {
    report = await statusReport(db, { provider });
    return 0;
  });
  if (report === undefined) return code;
  const queues = await readQueues(env.REDIS_URL, env.BIRDFEED_QUEUE_PREFIX);
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ ...report, queues }, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(renderReport(report, queues));
  return 0;
}

async function readQueues(redisUrl: string | undefined, prefix: string): Promise<QueueReport> {
  if (redisUrl === undefined) return { configured: false, reason: 'REDIS_URL is not set' };
  // Loaded only when asked for: without Redis, status never loads BullMQ.
  const { createRedisConnection, probeRedis, queueStatus, redactRedisUrl } = await import(
    '@birdfeed/jobs'
  );
  try {
    // A Redis that accepts and never answers would otherwise hang status for good.
    await probeRedis(redisUrl, async () => undefined);
  } catch (error) {
    return { configured: true, error: error instanceof Error ? error.message : String(error) };
  }
  const connection = createRedisConnection({
    url: redisUrl,
    role: 'producer',
    connectionName: 'birdfeed-status',
  });
  // A Redis that is down: report it once, do not retry for ever.
  connection.on('error', () => {});
  try {
    return { configured: true, queues: await queueStatus({ connection, prefix }) };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { configured: true, error: `${redactRedisUrl(redisUrl)}: ${message}` };
  } finally {
    connection.disconnect();
  }
}

function ago(date: Date | null, now: Date): string {
  if (date === null) return 'never';
  const seconds = Math.round((now.getTime() - date.getTime()) / 1000);
  if (seconds < 0) return `in ${formatEvery(-seconds)}`;
  if (seconds === 0) return 'now';
  return `${formatEvery(seconds)} ago`;
}

/** What a gap's reason means, for the reasons that are not a provider's documented limit. */
const GAP_REASONS: Readonly<Record<string, string>> = {
  cursor_repeated: 'the provider handed back the cursor it was asked with; window ended',
  window_page_cap: 'the window reached its page cap with a next cursor; window ended',
  budget:
    'the daily budget stopped the window (its cursor would expire by the next budget); window ended',
};

function targetLines(target: TargetStatus, now: Date): string[] {
  const name = target.username === null ? '' : ` @${target.username}`;
  const state = !target.enabled
    ? 'disabled'
    : target.state === 'active'
      ? 'active'
      : `${target.state.toUpperCase()}${target.stateReason ? ` (${target.stateReason})` : ''}`;
  const lines = [
    `${target.provider.padEnd(8)} ${target.userId}${name}  ${state}, every ${formatEvery(target.intervalSeconds)}`,
  ];
  const cp = target.checkpoint;
  const checkpoint =
    cp === null
      ? 'never crawled'
      : `since_id ${cp.sinceId ?? (cp.backfillDone ? '- (backfill done, nothing to read yet)' : '- (backfill pending)')}${cp.windowOpen ? `, window open: ${cp.windowPages} page${cp.windowPages === 1 ? '' : 's'} read${cp.hasCursor ? ', cursor saved' : ''}${cp.windowUntilId === null ? '' : `, going on below ${cp.windowUntilId} (until_id: its cursor expired)`}` : ''}`;
  lines.push(`    checkpoint: ${checkpoint}`);
  if (cp !== null && cp.emptyGiveUps > 0) {
    // A window given up on empty pages with nothing listed moves nothing and records no gap:
    // without this line the target reads "backfill pending" for ever while each run pays.
    const runs = `${cp.emptyGiveUps} ${cp.emptyGiveUps === 1 ? 'run' : 'runs'} in a row`;
    const limit = EMPTY_PAGES_BEFORE_END[target.provider];
    lines.push(
      `    gave up:    ${runs} on ${limit} empty pages before any tweet was listed${target.state === 'active' ? ` (at ${EMPTY_GIVEUPS_BEFORE_FAILING} the target is marked failing)` : ''}`,
    );
  }
  const run = target.lastRun;
  lines.push(
    run === null
      ? '    last run:   none'
      : `    last run:   #${run.id} ${run.kind} ${run.outcome}, started ${ago(run.startedAt, now)}, ${run.pages} pages, ${run.tweetsNew} new, ${run.tweetsUpdated} updated${run.costCents > 0 ? `, ${run.costCents}¢` : ''}${run.error ? ` — ${run.error}` : ''}`,
  );
  const due =
    !target.enabled || target.state !== 'active'
      ? 'not scheduled'
      : ago(target.nextDueAt, now).replace(/ ago$/, ' overdue');
  lines.push(`    next due:   ${due}`);
  if (target.failures.total > 0) {
    const last = target.failures.last;
    lines.push(
      `    failures:   ${target.failures.last24h} in 24h, ${target.failures.total} total${last ? `; last ${ago(last.failedAt, now)}: ${last.errorName}: ${last.errorMessage}` : ''}`,
    );
  }
  if (target.gaps.count > 0) {
    const last = target.gaps.last;
    lines.push(
      `    gaps:       ${target.gaps.count}${last ? `; last between ${last.sinceId ?? '-'} and ${last.oldestId ?? '-'} (${last.reason}${GAP_REASONS[last.reason] ? `: ${GAP_REASONS[last.reason]}` : ''})` : ''}`,
    );
  }
  return lines;
}

function renderReport(report: StatusReport, queues: QueueReport): string {
  const out: string[] = [];
  out.push(`targets (${report.targets.length}):`);
  if (report.targets.length === 0)
    out.push('  none (add one with `birdfeed watchlist add <user_id>`)');
  for (const target of report.targets)
    out.push(...targetLines(target, report.generatedAt).map((line) => `  ${line}`));
  out.push('');
  out.push('spend today (UTC):');
  if (report.spendToday.length === 0) out.push('  nothing yet');
  for (const spend of report.spendToday) {
    out.push(`  ${spend.provider.padEnd(8)} ${spend.requests} requests, ${spend.costCents}¢`);
  }
  out.push('');
  if (!queues.configured) {
    out.push(`queues: not configured (${queues.reason})`);
  } else if ('error' in queues) {
    out.push(`queues: unreachable (${queues.error})`);
  } else {
    out.push(`queues (${queues.queues.length}):`);
    if (queues.queues.length === 0)
      out.push('  none yet (start `birdfeed scheduler` and `birdfeed worker`)');
    for (const queue of queues.queues) out.push(`  ${queueLine(queue)}`);
  }
  return `${out.join('\n')}\n`;
}

function queueLine(queue: QueueStatus): string {
  const depth = `waiting ${queue.waiting}, active ${queue.active}, delayed ${queue.delayed}, failed ${queue.failed}, workers ${queue.workers ?? '? (Redis does not list its clients)'}`;
  const limiter = queue.limiter;
  // The limit is in the queue's meta, written by each worker when it starts: absent, it was
  // never written or Redis lost it; either way this command cannot say what applies.
  const budget =
    limiter.max === null
      ? 'limiter unknown (set by the workers at start)'
      : `budget ${limiter.remaining ?? '?'}/${limiter.max} per ${formatEvery((limiter.windowMs ?? 0) / 1000)}${limiter.resetsInMs > 0 ? `, resets in ${formatEvery(Math.ceil(limiter.resetsInMs / 1000))}` : ''}${limiter.rateLimited ? ', RATE LIMITED' : ''}`;
  const paused = queue.paused
    ? `, PAUSED${queue.pauseReason ? ` (${queue.pauseReason})` : ''}`
    : '';
  const unattended = queue.waitingWithoutWorker
    ? `, NO WORKER: ${queue.waiting} job${queue.waiting === 1 ? '' : 's'} waiting for \`birdfeed worker\``
    : '';
  return `${queue.name}: ${depth}; ${budget}${paused}${unattended}`;
}
