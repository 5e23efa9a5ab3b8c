import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  InvalidPageError,
  MIGRATIONS_FOLDER,
  MigrationFailedError,
  migrate,
  openDatabase,
  pageRows,
  rowsOf,
  sql,
} from '@birdfeed/db';
import { FACE_SIZES, REFERENCE_TYPES } from '@birdfeed/model';
import { xReferencedTweetSchema } from '@birdfeed/providers';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';

/** A copy of the migrations folder whose journal keeps only the tags before `tag`. */
function migrationsBefore(tag: string): string {
  const folder = mkdtempSync(join(tmpdir(), 'birdfeed-checks-migrations-'));
  cpSync(MIGRATIONS_FOLDER, folder, { recursive: true });
  const path = join(folder, 'meta/_journal.json');
  const journal = JSON.parse(readFileSync(path, 'utf8')) as { entries: { tag: string }[] };
  journal.entries = journal.entries.filter((entry) => entry.tag < tag);
  writeFileSync(path, JSON.stringify(journal));
  return folder;
}

const SEEN = "'2024-01-02T03:04:05Z', '2024-01-02T03:04:05Z', '2024-01-02T03:04:05Z'";

async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

describe('CHECK constraints (migration 0006_add_checks) on Postgres', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase('checks');
    const opened = await openDatabase({ url: database.url });
    try {
      await migrate(opened.db);
    } finally {
      await opened.close();
    }
  });
  afterAll(async () => {
    await database?.drop();
  });

  it('keeps an until_id bound (migration 0008) on open X windows only', async () => {
    await withClient(database.url, async (client) => {
      const refused = async (statement: string) =>
        client.query(statement).then(
          () => undefined,
          (error: { code?: string; constraint?: string }) => ({
            code: error.code,
            constraint: error.constraint,
          }),
        );
      const refusal = { code: '23514', constraint: 'crawl_checkpoints_window_until_check' };
      // agntdata has no until_id; a bound outside an open window would hold the next one back.
      expect(
        await refused(
          `INSERT INTO crawl_checkpoints (provider, user_id, window_started_at, window_until_id) VALUES ('agntdata', 1, now(), 5)`,
        ),
      ).toEqual(refusal);
      expect(
        await refused(
          `INSERT INTO crawl_checkpoints (provider, user_id, window_until_id) VALUES ('x', 1, 5)`,
        ),
      ).toEqual(refusal);
      await client.query(
        `INSERT INTO crawl_checkpoints (provider, user_id, window_started_at, window_until_id) VALUES ('x', 2, now(), 5)`,
      );
      await client.query(`DELETE FROM crawl_checkpoints WHERE user_id = 2`);
    });
  });

  it('refuses a negative count of empty give-ups (migration 0009)', async () => {
    await withClient(database.url, async (client) => {
      const error = await client
        .query(
          `INSERT INTO crawl_checkpoints (provider, user_id, empty_giveups) VALUES ('x', 3, -1)`,
        )
        .then(
          () => undefined,
          (failure: { code?: string; constraint?: string }) => failure,
        );
      expect(error).toMatchObject({
        code: '23514',
        constraint: 'crawl_checkpoints_empty_giveups_check',
      });
    });
  });

  it('refuses a face size, reference type, provider or count outside the contract', async () => {
    await withClient(database.url, async (client) => {
      const refused = async (statement: string) =>
        client.query(statement).then(
          () => undefined,
          (error: { code?: string; constraint?: string }) => ({
            code: error.code,
            constraint: error.constraint,
          }),
        );
      expect(
        await refused(
          `INSERT INTO media_faces (media_key, size, idx, x, y, w, h) VALUES ('3_1', 'xlarge', 0, 1, 2, 3, 4)`,
        ),
      ).toEqual({ code: '23514', constraint: 'media_faces_size_check' });
      expect(
        await refused(
          `INSERT INTO tweet_references (tweet_id, type, referenced_tweet_id) VALUES (1, 'mentioned', 2)`,
        ),
      ).toEqual({ code: '23514', constraint: 'tweet_references_type_check' });
      expect(
        await refused(
          `INSERT INTO raw_pages (provider, user_id, request_url, status, body) VALUES ('twitter', 1, 'u', 200, '{}')`,
        ),
      ).toEqual({ code: '23514', constraint: 'raw_pages_provider_check' });
      expect(
        await refused(
          `INSERT INTO tweets (id, like_count, observed_at, first_seen_at, last_seen_at) VALUES (1, -1, ${SEEN})`,
        ),
      ).toEqual({ code: '23514', constraint: 'tweets_counts_check' });
      expect(
        await refused(
          `INSERT INTO media (media_key, width, observed_at, first_seen_at, last_seen_at) VALUES ('3_1', -5, ${SEEN})`,
        ),
      ).toEqual({ code: '23514', constraint: 'media_nonnegative_check' });
      // Every value of the contract goes in; NULL counts (not reported) too.
      for (const [i, size] of FACE_SIZES.entries()) {
        await client.query(
          `INSERT INTO media_faces (media_key, size, idx, x, y, w, h) VALUES ('3_1', $1, $2, 0, 0, 1, 1)`,
          [size, i],
        );
      }
      for (const type of REFERENCE_TYPES) {
        await client.query(
          `INSERT INTO tweet_references (tweet_id, type, referenced_tweet_id) VALUES (1, $1, 2)`,
          [type],
        );
      }
      await client.query(
        `INSERT INTO tweets (id, like_count, view_count, observed_at, first_seen_at, last_seen_at) VALUES (1, 0, NULL, ${SEEN})`,
      );
    });
  });
});

describe('migration 0006_add_checks over rows stored before it', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase('checks_existing');
  });
  afterAll(async () => {
    await database?.drop();
  });

  it('fails naming each table, constraint and how to find the rows, and changes nothing', async () => {
    const opened = await openDatabase({ url: database.url });
    try {
      await migrate(opened.db, { migrationsFolder: migrationsBefore('0006') });
    } finally {
      await opened.close();
    }
    await withClient(database.url, async (client) => {
      await client.query(
        `INSERT INTO media_faces (media_key, size, idx, x, y, w, h) VALUES ('3_1', 'xlarge', 0, 1, 2, 3, 4), ('3_1', 'orig', 0, 1, 2, 3, 4)`,
      );
      await client.query(
        `INSERT INTO tweet_references (tweet_id, type, referenced_tweet_id) VALUES (1, 'mentioned', 2), (1, 'quoted', 3)`,
      );
    });
    const current = await openDatabase({ url: database.url });
    let failure: unknown;
    try {
      failure = await migrate(current.db).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(MigrationFailedError);
      const message = (failure as Error).message;
      expect(message).toContain('migration 0006_add_checks failed');
      expect(message).toContain('the database is as it was');
      expect(message).toContain('table media_faces, constraint media_faces_size_check: 1 row(s)');
      expect(message).toContain(
        'table tweet_references, constraint tweet_references_type_check: 1 row(s)',
      );
      expect(message).not.toContain('tweets_counts_check');
      expect((failure as MigrationFailedError).code).toBe('23514');
      // The SELECTs the message gives find exactly the violating rows.
      const queries = [...message.matchAll(/find them with: (SELECT [^;]+);/g)].map((m) => m[1]);
      expect(queries).toHaveLength(2);
      const found = await withClient(database.url, async (client) =>
        Promise.all(
          queries.map(async (query) => (await client.query(query as string)).rows as unknown[]),
        ),
      );
      expect(found).toEqual([
        [{ media_key: '3_1', size: 'xlarge', idx: 0, x: 1, y: 2, w: 3, h: 4 }],
        [{ tweet_id: '1', type: 'mentioned', referenced_tweet_id: '2' }],
      ]);
      // Nothing applied: no constraint, 0006 not recorded.
      const [row] = rowsOf<{ n: number }>(
        await current.db.execute(
          sql`select count(*)::int as n from pg_constraint where conname = 'media_faces_size_check'`,
        ),
      );
      expect(row?.n).toBe(0);
      // Fixed by hand, the same migrate goes through.
      await withClient(database.url, async (client) => {
        await client.query(`DELETE FROM media_faces WHERE size = 'xlarge'`);
        await client.query(
          `UPDATE tweet_references SET type = 'replied_to' WHERE type = 'mentioned'`,
        );
      });
      // 0006 first, then the migrations after it.
      expect((await migrate(current.db)).applied[0]).toBe('0006_add_checks');
      const [validated] = rowsOf<{ all_valid: boolean; n: number }>(
        await current.db.execute(
          sql`select bool_and(convalidated) as all_valid, count(*)::int as n from pg_constraint
              where contype = 'c' and connamespace = 'public'::regnamespace`,
        ),
      );
      // 13 added here, 2 on watch_targets from before, 2 on crawl_checkpoints after (0008, 0009).
      expect(validated).toEqual({ all_valid: true, n: 17 });
    } finally {
      await current.close();
    }
  });
});

describe('migration 0006_add_checks on PGlite', () => {
  it('applies, refuses a bad face size, and fails clearly over rows stored before it', async () => {
    const database = await openDatabase({});
    try {
      expect(database.kind).toBe('pglite');
      await migrate(database.db, { migrationsFolder: migrationsBefore('0006') });
      await database.db.execute(
        sql`insert into media_faces (media_key, size, idx, x, y, w, h) values ('3_1', 'huge', 0, 1, 2, 3, 4)`,
      );
      const failure = await migrate(database.db).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(MigrationFailedError);
      expect((failure as Error).message).toContain(
        'table media_faces, constraint media_faces_size_check: 1 row(s); find them with: SELECT * FROM media_faces WHERE NOT (',
      );
      await database.db.execute(sql`delete from media_faces`);
      expect((await migrate(database.db)).applied[0]).toBe('0006_add_checks');
      const refused = await database.db
        .execute(
          sql`insert into media_faces (media_key, size, idx, x, y, w, h) values ('3_1', 'huge', 0, 1, 2, 3, 4)`,
        )
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      expect(String((refused as Error).cause ?? refused)).toContain('media_faces_size_check');
    } finally {
      await database.close();
    }
  });
});

describe('the providers and the row check agree with the constraints', () => {
  it('X: a reference type outside tweet_references_type_check is an invalid body', () => {
    for (const type of REFERENCE_TYPES) {
      expect(xReferencedTweetSchema.safeParse({ type, id: '1' }).success).toBe(true);
    }
    expect(xReferencedTweetSchema.safeParse({ type: 'mentioned', id: '1' }).success).toBe(false);
  });

  it('the row check refuses what the constraints would, naming the field and the value', () => {
    const page = {
      provider: 'x' as const,
      userId: '1',
      observedAt: new Date(),
      users: [],
      tweetMedia: [],
      cursor: { next: null },
      newestId: null,
      oldestId: null,
      resultCount: 0,
      partialErrors: [],
    };
    const badReference = () =>
      pageRows({
        ...page,
        media: [],
        tweets: [
          {
            id: '5',
            fromTimeline: true,
            references: [{ type: 'mentioned' as 'quoted', id: '6' }],
          },
        ],
      });
    expect(badReference).toThrow(InvalidPageError);
    expect(badReference).toThrow(
      'unknown reference type "mentioned" at tweets[0].references[0].type',
    );
    const badSize = () =>
      pageRows({
        ...page,
        tweets: [],
        media: [{ mediaKey: '3_1', faces: { xlarge: [] } as never }],
      });
    expect(badSize).toThrow('unknown face size "xlarge" at media[0].faces');
    const negative = () =>
      pageRows({ ...page, tweets: [], media: [{ mediaKey: '3_1', width: -1 }] });
    expect(negative).toThrow('not a size: -1 at media[0].width');
  });
});
