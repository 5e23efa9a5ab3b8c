import { formatEvery, IntervalFormatError, parseEvery } from '@birdfeed/crawl';
import {
  DEFAULT_BACKFILL_DEPTH,
  getCheckpoint,
  listTargets,
  MAX_BACKFILL_DEPTH,
  setTargetEnabled,
  upsertTarget,
  type WatchTarget,
} from '@birdfeed/db';
import { PROVIDER_NAMES, type ProviderName } from '@birdfeed/model';
import { parseEnv } from '../env.ts';
import { parseCommandArgs, parseIntegerFlag, userIdProblem } from './command-args.ts';
import { withCrawlDatabase } from './database-options.ts';

const USAGE = `usage:
  birdfeed watchlist add <user_id> [--provider x|agntdata] [--every 15m] [--backfill N]
                                   [--tags a,b] [--username NAME] [--priority N]
  birdfeed watchlist list [--provider x|agntdata] [--json]
  birdfeed watchlist enable <user_id> [--provider x|agntdata]
  birdfeed watchlist disable <user_id> [--provider x|agntdata]

add       watch an account (a decimal user id) on one provider (default x); adding it again
          updates the options given. --every: how often to crawl (15m, 1h, 1h30m, 90s; each
          unit once, m for minutes, never M; default 15m). --backfill: how many tweets a new target reads first (1..${MAX_BACKFILL_DEPTH},
          default ${DEFAULT_BACKFILL_DEPTH}; raising it after the backfill finished reads no older
          tweets). --priority: higher runs first (-1000..1000, default 0;
          a negative one is written --priority=-5, since -5 alone reads as an option).
enable    crawl it again, also after it was marked not_found/suspended/protected/deleted/failing.
disable   stop crawling it (its data and checkpoint stay).
Without --provider, enable and disable apply to the account on every provider.
Each option may be given once; user ids are decimal, from 1.
`;

/** Bad input: said with the argument's name, before anything is written. */
class UsageError extends Error {
  override readonly name = 'UsageError';
}

const TAG_PATTERN = /^[\p{L}\p{N}][\p{L}\p{N}_.:/-]{0,63}$/u;

function parseProvider(value: string | undefined): ProviderName | undefined {
  if (value === undefined) return undefined;
  if (!(PROVIDER_NAMES as readonly string[]).includes(value)) {
    throw new UsageError(
      `--provider ${JSON.stringify(value)}: must be one of ${PROVIDER_NAMES.join(', ')}`,
    );
  }
  return value as ProviderName;
}

function parseUserId(value: string | undefined, action: string): string {
  if (value === undefined) throw new UsageError(`watchlist ${action}: <user_id> is missing`);
  const problem = userIdProblem(value);
  if (problem !== undefined) throw new UsageError(`<user_id> ${JSON.stringify(value)}: ${problem}`);
  return value;
}

function parseIntegerOption(name: string, value: string | undefined, min: number, max: number) {
  if (value === undefined) return undefined;
  try {
    return parseIntegerFlag(name, value, min, max);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function parseTags(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const tags = value
    .split(',')
    .map((tag) => tag.trim())
    .filter((tag) => tag !== '');
  for (const tag of tags) {
    if (!TAG_PATTERN.test(tag)) {
      throw new UsageError(
        `--tags: ${JSON.stringify(tag)} is not a tag (letters, digits, _ . : / -, up to 64)`,
      );
    }
  }
  // `--tags ''` clears them on purpose; commas alone are a typo, not "no tags".
  if (tags.length === 0 && value.trim() !== '') throw new UsageError('--tags: no tag given');
  return [...new Set(tags)];
}

/** The options each action reads: any other one given is a mistake, not something to ignore. */
const ACTION_OPTIONS: Record<string, readonly string[]> = {
  add: ['provider', 'every', 'backfill', 'tags', 'username', 'priority'],
  list: ['provider', 'json'],
  enable: ['provider'],
  disable: ['provider'],
};

function refuseOtherOptions(action: string, values: Record<string, unknown>): void {
  const allowed = ACTION_OPTIONS[action];
  if (allowed === undefined) return;
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined || name === 'help' || allowed.includes(name)) continue;
    throw new UsageError(`watchlist ${action} does not take --${name}`);
  }
}

function describeTarget(target: WatchTarget): string {
  const flags = [
    `every ${formatEvery(target.intervalSeconds)}`,
    `backfill ${target.backfillDepth}`,
    target.enabled ? 'enabled' : 'disabled',
    target.state === 'active'
      ? null
      : `${target.state}${target.stateReason ? ` (${target.stateReason})` : ''}`,
    target.priority === 0 ? null : `priority ${target.priority}`,
    target.tags.length === 0 ? null : `tags ${target.tags.join(',')}`,
  ].filter((flag) => flag !== null);
  const name = target.username === null ? '' : ` @${target.username}`;
  return `${target.provider.padEnd(8)} ${target.userId}${name}  ${flags.join(', ')}`;
}

function parseOptions(args: string[]) {
  return parseCommandArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      provider: { type: 'string' },
      every: { type: 'string' },
      backfill: { type: 'string' },
      tags: { type: 'string' },
      username: { type: 'string' },
      priority: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

export async function main(argv: string[]): Promise<number> {
  const [action, ...rest] = argv;
  if (action === undefined || action === '--help' || action === '-h' || action === 'help') {
    process.stdout.write(USAGE);
    return action === undefined ? 2 : 0;
  }
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(rest);
  } catch (error) {
    process.stderr.write(`watchlist: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  try {
    refuseOtherOptions(action, values);
    switch (action) {
      case 'add': {
        // Everything is validated before the database is opened: bad input writes nothing.
        const userId = parseUserId(positionals[0], 'add');
        if (positionals.length > 1)
          throw new UsageError(`watchlist add: unexpected ${JSON.stringify(positionals[1])}`);
        const provider = parseProvider(values.provider) ?? 'x';
        let intervalSeconds: number | undefined;
        if (values.every !== undefined) {
          try {
            intervalSeconds = parseEvery(values.every);
          } catch (error) {
            if (error instanceof IntervalFormatError)
              throw new UsageError(`--every ${error.message}`);
            throw error;
          }
        }
        const backfillDepth = parseIntegerOption(
          'backfill',
          values.backfill,
          1,
          MAX_BACKFILL_DEPTH,
        );
        const priority = parseIntegerOption('priority', values.priority, -1000, 1000);
        const tags = parseTags(values.tags);
        const username = values.username?.replace(/^@/, '');
        if (username !== undefined && !/^[A-Za-z0-9_]{1,50}$/.test(username)) {
          throw new UsageError(
            `--username ${JSON.stringify(values.username)}: letters, digits and _ only`,
          );
        }
        return await withCrawlDatabase('watchlist', parseEnv(), async (db) => {
          const { target, created } = await upsertTarget(db, {
            provider,
            userId,
            username,
            intervalSeconds,
            backfillDepth,
            priority,
            tags,
          });
          process.stdout.write(`${created ? 'added' : 'updated'}: ${describeTarget(target)}\n`);
          if (!created && backfillDepth !== undefined) {
            const checkpoint = await getCheckpoint(db, { provider, userId });
            if (checkpoint?.backfillDone === true) {
              // The depth bounds a target's first window; later runs only read what is new.
              process.stderr.write(
                `watchlist: note: ${provider}/${userId} finished its backfill already: --backfill ${backfillDepth} is kept but fetches no older tweets\n`,
              );
            }
          }
          return 0;
        });
      }
      case 'list': {
        if (positionals.length > 0)
          throw new UsageError(`watchlist list: unexpected ${JSON.stringify(positionals[0])}`);
        const provider = parseProvider(values.provider);
        return await withCrawlDatabase('watchlist', parseEnv(), async (db) => {
          const targets = await listTargets(db, { provider });
          if (values.json === true) {
            process.stdout.write(`${JSON.stringify(targets, null, 2)}\n`);
          } else if (targets.length === 0) {
            process.stdout.write(
              'the watchlist is empty (add one with `birdfeed watchlist add <user_id>`)\n',
            );
          } else {
            for (const target of targets) process.stdout.write(`${describeTarget(target)}\n`);
          }
          return 0;
        });
      }
      case 'enable':
      case 'disable': {
        const userId = parseUserId(positionals[0], action);
        if (positionals.length > 1)
          throw new UsageError(`watchlist ${action}: unexpected ${JSON.stringify(positionals[1])}`);
        const provider = parseProvider(values.provider);
        return await withCrawlDatabase('watchlist', parseEnv(), async (db) => {
          const changed = await setTargetEnabled(db, { userId, provider }, action === 'enable');
          if (changed.length === 0) {
            process.stderr.write(
              `watchlist ${action}: no target ${provider === undefined ? '' : `${provider}:`}${userId} on the watchlist\n`,
            );
            return 1;
          }
          for (const target of changed)
            process.stdout.write(`${action}d: ${describeTarget(target)}\n`);
          return 0;
        });
      }
      default:
        throw new UsageError(
          `unknown action ${JSON.stringify(action)} (add, list, enable, disable)`,
        );
    }
  } catch (error) {
    if (error instanceof UsageError) {
      // A message that names its action (`watchlist add: …`) already says where it comes from.
      const where = error.message.startsWith('watchlist ') ? '' : 'watchlist: ';
      process.stderr.write(`${where}${error.message}\n`);
      return 2;
    }
    throw error;
  }
}
