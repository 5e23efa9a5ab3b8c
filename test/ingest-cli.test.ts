import { execFile } from 'node:child_process';
import {
  closeSync,
  existsSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { openDatabase, rowsOf, sql } from '@birdfeed/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';

const run = promisify(execFile);
const BIRDFEED = fileURLToPath(new URL('../bin/birdfeed.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
const DOCS = fileURLToPath(
  new URL('../../shared/fixtures/real/agntdata/user_medias_docs_example.json', import.meta.url),
);

/** `birdfeed …` as a user runs it, in `cwd`, with exactly `env` (no DATABASE_URL leaking in). */
async function birdfeed(args: string[], cwd: string, env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', TSX, BIRDFEED, ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? '', ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('the birdfeed CLI', () => {
  let testDb: TestDatabase;
  const cwd = mkdtempSync(join(tmpdir(), 'bf-cli-'));
  beforeAll(async () => {
    testDb = await createTestDatabase('cli');
  });
  afterAll(async () => {
    await testDb?.drop();
  });

  it('normalize prints one canonical page per recording, ids as strings', async () => {
    const result = await birdfeed(['normalize', '--provider', 'agntdata', DOCS], cwd);
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const page = JSON.parse(lines[0]!) as {
      userId: unknown;
      tweets: { id: unknown; authorId: unknown }[];
      media: { faces: Record<string, unknown[]> }[];
    };
    expect(page.userId).toBe('44196397');
    expect(page.tweets[0]).toMatchObject({ id: '1925089021710983421', authorId: '44196397' });
    expect(Object.keys(page.media[0]!.faces).sort()).toEqual(['large', 'medium', 'orig', 'small']);
  });

  it('a relative path is read from the directory `pnpm birdfeed` was typed in (INIT_CWD)', async () => {
    // pnpm runs the script in the workspace root and passes the user's directory as INIT_CWD.
    const typedIn = mkdtempSync(join(tmpdir(), 'bf-cli-typed-'));
    writeFileSync(join(typedIn, 'page.json'), readFileSync(DOCS));
    const result = await birdfeed(['normalize', '--provider', 'agntdata', 'page.json'], cwd, {
      INIT_CWD: typedIn,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout.trim()).userId).toBe('44196397');
    rmSync(typedIn, { recursive: true, force: true });
  });

  it('normalize refuses a --user-id past the bigint range as a usage error', async () => {
    const result = await birdfeed(
      ['normalize', '--provider', 'agntdata', '--user-id', '9223372036854775808', DOCS],
      cwd,
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      '--user-id "9223372036854775808": is larger than 9223372036854775807, the largest bigint (int64)',
    );
  });

  it('normalize prints userId null for a page that names nobody, unless --user-id says', async () => {
    const file = join(cwd, 'empty-x-page.json');
    writeFileSync(file, '{"meta":{"result_count":0}}');
    const guessed = await birdfeed(['normalize', '--provider', 'x', file], cwd);
    expect(guessed.code).toBe(0);
    expect(JSON.parse(guessed.stdout)).toMatchObject({ userId: null, tweets: [] });
    const given = await birdfeed(['normalize', '--provider', 'x', '--user-id', '12', file], cwd);
    // The last fallback, the file's modification time, is held to the same rule.
    const plain = join(cwd, 'future-mtime.json');
    writeFileSync(plain, '{"data":[],"meta":{"result_count":0}}');
    utimesSync(plain, new Date('2099-01-01T00:00:00Z'), new Date('2099-01-01T00:00:00Z'));
    const fromMtime = await birdfeed(['normalize', '--provider', 'x', plain], cwd);
    expect(fromMtime.code).toBe(1);
    expect(fromMtime.stderr).toMatch(
      /file's modification time 2099-01-01T00:00:00\.000Z is in the future/,
    );
    expect(JSON.parse(given.stdout)).toMatchObject({ userId: '12' });
  });

  it('an observation time in the future or before 2006 is refused, from the flag or the file', async () => {
    // Observed "later" than any real fetch, its counts would win every comparison for good.
    for (const [at, reason] of [
      ['2062-06-01T12:00:00Z', 'in the future'],
      ['0000-01-01T00:00:00Z', 'before the first tweet'],
    ] as const) {
      const result = await birdfeed(
        ['normalize', '--provider', 'agntdata', '--observed-at', at, DOCS],
        cwd,
      );
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`--observed-at ${at}: ${reason}`);
    }
    const file = join(cwd, 'future.jsonl');
    writeFileSync(
      file,
      '{"data":[],"meta":{"result_count":0},"__twarc":{"retrieved_at":"2099-01-01T00:00:00+00:00"}}\n',
    );
    const fromFile = await birdfeed(['normalize', '--provider', 'x', file], cwd);
    expect(fromFile.code).toBe(1);
    expect(fromFile.stderr).toMatch(
      /future\.jsonl: .*twarc retrieved_at 2099-01-01T00:00:00\.000Z is in the future; pass --observed-at/,
    );
    const given = await birdfeed(
      ['normalize', '--provider', 'x', '--observed-at', '2026-06-01T12:00:00Z', file],
      cwd,
    );
    expect(given.code, given.stderr).toBe(0);
  });

  it('a body read with the wrong --provider says which to use; a byte-order mark is no error', async () => {
    const xBody = fileURLToPath(
      new URL(
        '../../shared/fixtures/real/x-v2/twitter-api-py/user_tweets_all_fields.json',
        import.meta.url,
      ),
    );
    const asAgntdata = await birdfeed(['normalize', '--provider', 'agntdata', xBody], cwd);
    expect(asAgntdata.code).toBe(1);
    expect(asAgntdata.stderr).toContain('this looks like an X API response: try --provider x');
    const asX = await birdfeed(['normalize', '--provider', 'x', DOCS], cwd);
    expect(asX.code).toBe(1);
    expect(asX.stderr).toContain('this looks like an agntdata response: try --provider agntdata');
    const bom = join(cwd, 'bom.json');
    writeFileSync(bom, `\uFEFF${readFileSync(DOCS, 'utf8')}`);
    const withBom = await birdfeed(['normalize', '--provider', 'agntdata', bom], cwd);
    expect(withBom.code, withBom.stderr).toBe(0);
    expect(JSON.parse(withBom.stdout)).toMatchObject({ userId: '44196397' });
  });

  it('migrate applies once, then has nothing to do', async () => {
    const env = { DATABASE_URL: testDb.url };
    const first = await birdfeed(['migrate'], cwd, env);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/applied 0000_init/);
    const second = await birdfeed(['migrate'], cwd, env);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/0 applied, \d+ already applied/);
    // A password in the query string (node-postgres reads it) is masked like one in userinfo.
    const secret = await birdfeed(['migrate'], cwd, {
      DATABASE_URL: `${testDb.url}?password=s3cretpw`,
    });
    expect(secret.code).toBe(0);
    expect(secret.stdout).toMatch(/password=\*\*\*/);
    expect(secret.stdout + secret.stderr).not.toContain('s3cretpw');
  });

  it('migrate with an unknown flag is a usage error (exit 2), without a stack trace', async () => {
    const result = await birdfeed(['migrate', '--bogus'], cwd, { DATABASE_URL: testDb.url });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^migrate: Unknown option '--bogus'/);
    expect(result.stderr).toMatch(/usage: birdfeed migrate/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('ingest without DATABASE_URL writes the embedded PGlite database under .birdfeed/pgdata', async () => {
    const first = await birdfeed(['ingest', '--provider', 'agntdata', DOCS], cwd);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/tweets\s+3 new, 0 updated/);
    expect(first.stdout).toMatch(/media_faces\s+24 written/);
    const second = await birdfeed(['ingest', '--provider', 'agntdata', DOCS], cwd);
    expect(second.stdout).toMatch(/tweets\s+0 new, 3 updated/);
    const database = await openDatabase({ dataDir: join(cwd, '.birdfeed', 'pgdata') });
    try {
      const [row] = rowsOf<{ faces: number; rects: number }>(
        await database.db.execute(sql`select
          (select count(*)::int from media_faces) as faces,
          (select count(*)::int from media_focus_rects) as rects`),
      );
      expect(row).toEqual({ faces: 24, rects: 15 });
    } finally {
      await database.close();
    }
  });

  it('refuses the embedded database while a running demo holds it', async () => {
    const home = mkdtempSync(join(tmpdir(), 'bf-cli-demo-'));
    mkdirSync(join(home, '.birdfeed'));
    // This test process stands in for a live demo.
    writeFileSync(join(home, '.birdfeed', 'demo.lock'), `${process.pid}\n`);
    const result = await birdfeed(['ingest', '--provider', 'agntdata', DOCS], home);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`open in another process (pid ${process.pid})`);
    // The commands that only read or run it say the same in one line, without a stack trace.
    for (const args of [['status'], ['watchlist', 'list'], ['crawl', '--once']]) {
      const other = await birdfeed(args, home);
      expect(other.code, args.join(' ')).toBe(1);
      expect(other.stderr, args.join(' ')).toContain(`birdfeed ${args[0]}: the PGlite database`);
      expect(other.stderr, args.join(' ')).not.toMatch(/\n\s+at /);
    }
  });

  it('a command that only reads or runs the database creates no embedded one where there is none', async () => {
    const home = mkdtempSync(join(tmpdir(), 'bf-cli-none-'));
    for (const args of [
      ['status'],
      ['watchlist', 'list'],
      ['crawl', '--once'],
      ['prune', '--runs', '30d'],
    ]) {
      const result = await birdfeed(args, home);
      expect(result.code, args.join(' ')).toBe(1);
      expect(result.stderr, args.join(' ')).toContain(
        'the database (PGlite at .birdfeed/pgdata) has no birdfeed tables: run `pnpm birdfeed migrate` first',
      );
    }
    expect(existsSync(join(home, '.birdfeed'))).toBe(false);
  });

  it('ingest of a bad file exits 1 naming the file and the JSON path', async () => {
    const result = await birdfeed(
      ['ingest', '--provider', 'x', join(import.meta.dirname, 'ingest-cli.test.ts')],
      cwd,
      { DATABASE_URL: testDb.url },
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/ingest-cli\.test\.ts: x response is not JSON at \$: /);
    expect(result.stderr).toMatch(/nothing written/);
  });

  it('a directory or a missing file is named with what is wrong; the next file is still read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bf-cli-dir-'));
    const missing = join(dir, 'no-such-page.json');
    const ingest = await birdfeed(['ingest', '--provider', 'agntdata', dir, missing, DOCS], cwd, {
      DATABASE_URL: testDb.url,
    });
    expect(ingest.code).toBe(1);
    expect(ingest.stderr).toContain(
      `ingest: ${dir}: is a directory (pass the files in it, e.g. ${dir}/*) — nothing written for this file`,
    );
    expect(ingest.stderr).toContain(
      `ingest: ${missing}: no such file — nothing written for this file`,
    );
    expect(ingest.stdout).toContain(`${DOCS}: 1 page(s)`);
    const normalize = await birdfeed(['normalize', '--provider', 'agntdata', dir, DOCS], cwd);
    expect(normalize.code).toBe(1);
    expect(normalize.stderr).toContain(
      `normalize: ${dir}: is a directory (pass the files in it, e.g. ${dir}/*)`,
    );
    expect(normalize.stdout).toContain('"provider":"agntdata"');
  });

  it('a file too large for one string says so and how to split it (a sparse file: nothing is read)', async () => {
    const huge = join(cwd, 'huge.jsonl');
    const fd = openSync(huge, 'w');
    ftruncateSync(fd, 600 * 1_048_576);
    closeSync(fd);
    try {
      const result = await birdfeed(['normalize', '--provider', 'x', huge], cwd);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        /normalize: .*huge\.jsonl: too large to read at once \(600 MiB; at most \d+ MiB\): split it, e\.g\. split -l 10000/,
      );
    } finally {
      rmSync(huge);
    }
  });

  it('normalize --provider x refuses what is not an X response and skips an error-only 200', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bf-cli-x-'));
    const empty = join(dir, 'empty.json');
    writeFileSync(empty, '{}');
    const errorsOnly = join(dir, 'not-found.json');
    writeFileSync(
      errorsOnly,
      JSON.stringify({
        errors: [{ title: 'Not Found Error', detail: 'Could not find user with id: [1].' }],
      }),
    );
    for (const file of [empty, DOCS]) {
      const result = await birdfeed(['normalize', '--provider', 'x', file], cwd);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(
        `${file}: invalid X timeline body at $: none of data, meta or errors`,
      );
      expect(result.stdout).toBe('');
    }
    const skipped = await birdfeed(['normalize', '--provider', 'x', errorsOnly], cwd);
    expect(skipped.code).toBe(0);
    expect(skipped.stdout).toBe('');
    expect(skipped.stderr).toContain(
      `${errorsOnly}: skipped not-found.json: a provider error body`,
    );
  });

  it('a NUL character in a tweet is stored as U+FFFD instead of failing the page', async () => {
    const body = readFileSync(DOCS, 'utf8');
    const withNul = body.replace(/"text": ?"/, (quote) => `${quote}nul\\u0000here `);
    expect(withNul).not.toBe(body);
    const path = join(cwd, 'nul.json');
    writeFileSync(path, withNul);
    const db = await createTestDatabase('ingest_nul');
    try {
      const result = await birdfeed(['ingest', '--provider', 'agntdata', path], cwd, {
        DATABASE_URL: db.url,
      });
      expect(result.code, result.stderr).toBe(0);
      const database = await openDatabase({ url: db.url });
      try {
        const rows = rowsOf<{ text: string }>(
          await database.db.execute(sql`SELECT text FROM tweets WHERE text LIKE 'nul%'`),
        );
        expect(rows.map((row) => row.text.slice(0, 9))).toEqual(['nul\uFFFDhere ']);
      } finally {
        await database.close();
      }
    } finally {
      await db.drop();
    }
  });

  it('a lone UTF-16 surrogate (a string cut inside an emoji) is stored as U+FFFD, in jsonb too', async () => {
    // JSON.stringify writes a lone surrogate as a \\ud83d escape, which jsonb refuses: the
    // whole page failed, and a crawled account went `failing`.
    const page = {
      data: [
        {
          id: '1500000000000000001',
          author_id: '2244994945',
          created_at: '2022-03-05T12:00:00.000Z',
          text: 'cut \\ud83d here https://t.co/abc',
          entities: {
            urls: [
              {
                start: 14,
                end: 33,
                url: 'https://t.co/abc',
                expanded_url: 'https://example.com/',
                display_url: 'example.com',
                title: 'a title cut \\ud83d',
              },
            ],
          },
        },
      ],
      includes: { users: [{ id: '2244994945', name: 'X Dev \\udc00', username: 'XDevelopers' }] },
      meta: { result_count: 1, newest_id: '1500000000000000001', oldest_id: '1500000000000000001' },
    };
    const path = join(cwd, 'surrogate.json');
    writeFileSync(path, JSON.stringify(page).replaceAll('\\\\u', '\\u'));
    expect(readFileSync(path, 'utf8')).toContain('cut \\ud83d here');
    const db = await createTestDatabase('ingest_surrogate');
    try {
      const result = await birdfeed(['ingest', '--provider', 'x', path], cwd, {
        DATABASE_URL: db.url,
      });
      expect(result.code, result.stderr).toBe(0);
      const database = await openDatabase({ url: db.url });
      try {
        const rows = rowsOf<{ text: string; title: string; name: string }>(
          await database.db.execute(sql`SELECT t.text, t.entities->'urls'->0->>'title' AS title,
            u.name FROM tweets t JOIN users u ON u.id = t.author_id`),
        );
        expect(rows).toEqual([
          {
            text: 'cut \uFFFD here https://t.co/abc',
            title: 'a title cut \uFFFD',
            name: 'X Dev \uFFFD',
          },
        ]);
      } finally {
        await database.close();
      }
    } finally {
      await db.drop();
    }
  });

  it('a value no column takes names the file and the path; the next file is still ingested', async () => {
    const wide = JSON.parse(readFileSync(DOCS, 'utf8')) as {
      results: Array<{
        tweet_id: string;
        extended_entities: { media: Array<{ original_info: { width: number } }> };
      }>;
    };
    wide.results[0]!.extended_entities.media[0]!.original_info.width = 3_000_000_000;
    wide.results = [wide.results[0]!];
    const widePath = join(cwd, 'wide.json');
    writeFileSync(widePath, JSON.stringify(wide));
    const db = await createTestDatabase('ingest_wide');
    try {
      const result = await birdfeed(['ingest', '--provider', 'agntdata', widePath, DOCS], cwd, {
        DATABASE_URL: db.url,
      });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        /wide\.json.*not a 32-bit integer: 3000000000 at media\[\d+\]\.width/,
      );
      expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
      expect(result.stdout).toMatch(/user_medias_docs_example\.json: \d+ page/);
    } finally {
      await db.drop();
    }
  });
});
