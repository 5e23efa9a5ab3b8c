import { durationUnitProblem } from '@birdfeed/crawl';
import { type PruneCount, type PruneResult, pruneHistory } from '@birdfeed/db';
import { parseEnv } from '../env.ts';
import { parseCommandArgs } from './command-args.ts';
import { withCrawlDatabase } from './database-options.ts';

const USAGE = `usage: birdfeed prune [--raw-pages AGE] [--runs AGE] [--failures AGE] [--metrics AGE] [--dry-run]

Deletes what birdfeed otherwise keeps forever, when older than AGE (a number with a unit
s, m, h or d: 90d, 12h, 1d12h). Give at least one of:

  --raw-pages AGE  the bodies of pages that were written (by fetched_at); an invalid body
                   stays while a kept failure names it
  --runs AGE       finished crawl_runs (by finished_at), except each target's newest run
                   and a run a checkpoint points at
  --failures AGE   crawl_failures (by failed_at), and the invalid bodies only they name
                   (not those of a target marked failing, kept until it is re-enabled)
  --metrics AGE    tweet_metrics and user_metrics rows (by observed_at), except each tweet's
                   and user's last row before the cut-off: the counts in force then stay
  --dry-run        count what would go, delete nothing

Tweets, users, media and gaps are never touched. Rows go in batches of
1,000, each committed on its own: safe while workers crawl, and safe to stop midway. Postgres
reuses the space (after autovacuum); the files shrink only with VACUUM FULL.
`;

const MAX_AGE_DAYS = 36_500;
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3_600, d: 86_400 };

/** `90d` → the instant 90 days before `now`. */
export function parseAge(flag: string, text: string, now: Date): Date {
  // `--raw-pages 1M` read as one minute would delete every body but the last minute's.
  const unitProblem = durationUnitProblem(text.trim());
  if (unitProblem !== undefined)
    throw new Error(`--${flag} ${JSON.stringify(text)}: ${unitProblem}`);
  const value = text.trim().toLowerCase();
  let seconds = 0;
  if (/^(?:\d+[smhd]){1,4}$/.test(value)) {
    for (const [, amount, unit] of value.matchAll(/(\d+)([smhd])/g)) {
      seconds += Number(amount) * (UNIT_SECONDS[unit as string] ?? 0);
    }
  }
  if (!(seconds > 0)) {
    throw new Error(
      `--${flag} ${JSON.stringify(text)}: must be an age above 0 with a unit s, m, h or d, e.g. 90d, 12h, 1d12h`,
    );
  }
  // Older than anything birdfeed stored, and far from the edge of Postgres's timestamps. An
  // amount too long for a number to hold exactly is still far above it.
  if (seconds > MAX_AGE_DAYS * 86_400) {
    throw new Error(
      `--${flag} ${JSON.stringify(text)}: is more than ${MAX_AGE_DAYS} days; give an age of at most ${MAX_AGE_DAYS}d (100 years)`,
    );
  }
  return new Date(now.getTime() - seconds * 1_000);
}

const PARTS = [
  ['raw-pages', 'rawPagesBefore'],
  ['runs', 'runsBefore'],
  ['failures', 'failuresBefore'],
  ['metrics', 'metricsBefore'],
] as const;

function describe(count: PruneCount | undefined, noun: string, nouns: string): string {
  const n = count?.rows ?? 0;
  const rows = `${n.toLocaleString('en-US')} ${n === 1 ? noun : nouns}`;
  return count?.bytes === undefined ? rows : `${rows} (${formatBytes(count.bytes)})`;
}

function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1_000 && unit < units.length - 1) {
    value /= 1_000;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

function report(result: PruneResult, before: Record<string, Date>, dryRun: boolean): string {
  const verb = dryRun ? 'would delete' : 'deleted';
  const lines: string[] = [];
  const when = (key: string) => (before[key] as Date).toISOString();
  if (result.rawPages !== undefined) {
    lines.push(
      `raw_pages: ${verb} ${describe(result.rawPages, 'body', 'bodies')} fetched before ${when('rawPagesBefore')}`,
    );
  }
  if (result.runs !== undefined) {
    lines.push(
      `crawl_runs: ${verb} ${describe(result.runs, 'run', 'runs')} finished before ${when('runsBefore')}`,
    );
  }
  if (result.failures !== undefined) {
    lines.push(
      `crawl_failures: ${verb} ${describe(result.failures, 'failure', 'failures')} before ${when('failuresBefore')}, and ${describe(result.failedBodies, 'invalid body', 'invalid bodies')} only they named`,
    );
  }
  if (result.tweetMetrics !== undefined) {
    lines.push(
      `metrics history: ${verb} ${describe(result.tweetMetrics, 'tweet_metrics row', 'tweet_metrics rows')} and ${describe(result.userMetrics, 'user_metrics row', 'user_metrics rows')} observed before ${when('metricsBefore')}, keeping each tweet's and user's last one before it`,
    );
  }
  return `${lines.map((line) => `prune: ${line}`).join('\n')}\n`;
}

export async function main(argv: string[]): Promise<number> {
  const now = new Date();
  const before: Record<string, Date> = {};
  let dryRun = false;
  try {
    const { values } = parseCommandArgs({
      args: argv,
      allowPositionals: false,
      strict: true,
      options: {
        'raw-pages': { type: 'string' },
        runs: { type: 'string' },
        failures: { type: 'string' },
        metrics: { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    for (const [flag, key] of PARTS) {
      const text = values[flag];
      if (text !== undefined) before[key] = parseAge(flag, text, now);
    }
    if (Object.keys(before).length === 0) {
      throw new Error(
        'nothing to prune: give --raw-pages, --runs, --failures or --metrics with an age',
      );
    }
    dryRun = values['dry-run'];
  } catch (error) {
    process.stderr.write(`prune: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  return withCrawlDatabase('prune', parseEnv(), async (db) => {
    const result = await pruneHistory(db, { ...before, dryRun });
    process.stdout.write(report(result, before, dryRun));
    return 0;
  });
}
