import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate, openDatabase } from '@birdfeed/db';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';
import { type CliRun, runCli } from './support/run-cli.ts';

/**
 * Command-line input that used to be taken as something else: an option given twice (the last
 * value won), user id 0, `1e1` as a count, `12` as a date. Each is refused with the flag named,
 * exit 2, and nothing written.
 */

let testDb: TestDatabase;
let pool: pg.Pool;
let dir: string;
let page: string;

function birdfeed(args: string[]): Promise<CliRun> {
  return runCli('command', args, { DATABASE_URL: testDb.url });
}

async function count(table: string): Promise<number> {
  return (await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]
    ?.n as number;
}

beforeAll(async () => {
  testDb = await createTestDatabase('cli_input_options');
  const database = await openDatabase({ url: testDb.url });
  await migrate(database.db);
  await database.close();
  pool = new pg.Pool({ connectionString: testDb.url, max: 2 });
  // Dropping the database at the end terminates idle clients; that is expected.
  pool.on('error', () => {});
  dir = await mkdtemp(join(tmpdir(), 'birdfeed-cli-input-'));
  page = join(dir, 'page.json');
  await writeFile(
    page,
    JSON.stringify({
      data: [
        {
          id: '1800000000000000001',
          author_id: '2244994945',
          text: 'hello',
          created_at: '2026-05-01T10:00:00.000Z',
          edit_history_tweet_ids: ['1800000000000000001'],
        },
      ],
      includes: { users: [{ id: '2244994945', username: 'XDevelopers', name: 'Developers' }] },
      meta: { result_count: 1, newest_id: '1800000000000000001', oldest_id: '1800000000000000001' },
    }),
  );
});

afterAll(async () => {
  await pool?.end();
  await testDb?.drop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

/** Every command line exits 2 naming what is wrong, and nothing reaches the database. */
async function expectRefused(cases: Array<[string[], string]>): Promise<void> {
  const runs = await Promise.all(cases.map(([args]) => birdfeed(args)));
  runs.forEach((run, i) => {
    const [args, message] = cases[i] ?? [[], ''];
    expect(run.code, `${args.join(' ')}: ${run.stderr}`).toBe(2);
    expect(run.stderr, args.join(' ')).toContain(message);
  });
  expect(await count('watch_targets')).toBe(0);
  expect(await count('tweets')).toBe(0);
}
describe('command-line input', () => {
  it('refuses an option given twice, naming it, in every command', async () => {
    const cases: Array<[string[], string]> = [
      [['watchlist', 'add', '12', '--every', '15m', '--every', '1h'], '--every given twice'],
      [
        ['watchlist', 'add', '12', '--provider', 'x', '--provider', 'agntdata'],
        '--provider given twice',
      ],
      [['watchlist', 'add', '12', '--priority=1', '--priority', '2'], '--priority given twice'],
      [['watchlist', 'list', '--json', '--json'], '--json given twice'],
      [['crawl', '--once', '--concurrency', '2', '--concurrency', '3'], '--concurrency given'],
      [['status', '--provider', 'x', '--provider=agntdata'], '--provider given twice'],
      [['migrate', '--no-wait', '--no-wait'], '--no-wait given twice'],
      // -p is --provider's short form: still the same option twice.
      [['ingest', '--provider', 'x', '-p', 'agntdata', page], '--provider given twice'],
      [['normalize', '-p', 'x', '--provider', 'x', page], '--provider given twice'],
    ];
    await expectRefused(cases);
  });

  it('refuses user id 0, a count in exponent form and a date without time or zone', async () => {
    const cases: Array<[string[], string]> = [
      [['watchlist', 'add', '0'], '<user_id> "0"'],
      [['watchlist', 'enable', '0'], '<user_id> "0"'],
      [['crawl', '--once', '--user', '0'], '--user "0"'],
      [['crawl', '--once', '--concurrency', '1e1'], '--concurrency "1e1"'],
      [['crawl', '--once', '--concurrency', '0x4'], '--concurrency "0x4"'],
      [['crawl', '--once', '--concurrency', '4.0'], '--concurrency "4.0"'],
      [['watchlist', 'add', '12', '--backfill', '1e2'], '--backfill "1e2"'],
      [['ingest', '--provider', 'x', '--user-id', '0', page], '--user-id'],
      [['ingest', '--provider', 'x', '--observed-at', '12', page], '--observed-at "12"'],
      [['normalize', '--provider', 'x', '--observed-at', '12', page], '--observed-at "12"'],
      [['normalize', '--provider', 'x', '--observed-at', '2026-06-01', page], '--observed-at'],
      [
        ['normalize', '--provider', 'x', '--observed-at', '2026-06-01T12:00:00', page],
        '--observed-at',
      ],
      [
        ['normalize', '--provider', 'x', '--observed-at', '2026-02-30T12:00:00Z', page],
        '--observed-at',
      ],
      [
        ['normalize', '--provider', 'x', '--observed-at', '2026-06-01T24:00:00Z', page],
        '--observed-at',
      ],
    ];
    await expectRefused(cases);
  });

  it('names the one thing wrong with an id, and only calls it a username when it is not a number', async () => {
    const cases: Array<[string[], string]> = [
      [['watchlist', 'add', '007'], '<user_id> "007": has a leading zero\n'],
      [
        ['watchlist', 'add', '9223372036854775808'],
        '<user_id> "9223372036854775808": is larger than 9223372036854775807, the largest bigint (int64)\n',
      ],
      [
        ['watchlist', 'add', '@jack'],
        '<user_id> "@jack": is not a decimal number (digits 0-9 only); a user id is the account\'s number (e.g. 2244994945), not its username\n',
      ],
      [['watchlist', 'disable', '0'], '<user_id> "0": is not an X user id (they start at 1)\n'],
      [['crawl', '--once', '--user', '007'], '--user "007": has a leading zero\n'],
      [
        ['crawl', '--once', '--user', '9223372036854775808'],
        '--user "9223372036854775808": is larger than 9223372036854775807',
      ],
      [
        ['ingest', '--provider', 'x', '--user-id', '007', page],
        '--user-id "007": has a leading zero\n',
      ],
    ];
    await expectRefused(cases);
  });

  it('refuses an --every unit given twice or in upper case (1h1h was stored as 2h, 1M as a minute)', async () => {
    await expectRefused([
      [
        ['watchlist', 'add', '4242', '--every', '1h1h'],
        '--every "1h1h": the unit h is given twice; give each unit once, e.g. 2h or 1h30m\n',
      ],
      [
        ['watchlist', 'add', '4242', '--every', '1M'],
        '--every "1M": M is a month to some and a minute to others: write m for minutes (months are not supported)\n',
      ],
      [['watchlist', 'add', '4242', '--every', '15M'], '--every "15M": M is a month to some'],
    ]);
  });

  it('ingest names what is wrong with an id in the file, and writes nothing', async () => {
    const file = join(dir, 'leading-zero.json');
    const body = JSON.parse(await readFile(page, 'utf8'));
    body.data[0].id = '0012345';
    await writeFile(file, JSON.stringify(body));
    const run = await birdfeed(['ingest', '--provider', 'x', file]);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toContain(
      'data[0].id: expected a decimal id string, but it has a leading zero',
    );
    expect(run.stderr).not.toContain('1 to 19 digits');
    expect(await count('tweets')).toBe(0);
    expect(await count('users')).toBe(0);
  });

  it('still takes what is meant: --priority=-5, an ISO timestamp with a zone', async () => {
    const add = await birdfeed(['watchlist', 'add', '12', '--priority=-5', '--every', '1h']);
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toContain('priority -5');
    const normalized = await birdfeed([
      'normalize',
      '--provider',
      'x',
      '--observed-at',
      '2026-06-01T14:00:00+02:00',
      page,
    ]);
    expect(normalized.code, normalized.stderr).toBe(0);
    expect(normalized.stdout).toContain('"observedAt":"2026-06-01T12:00:00.000Z"');
  });
});
