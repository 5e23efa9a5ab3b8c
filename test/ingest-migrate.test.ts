import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MigrationsMissingError, openCrawlDatabase } from '@birdfeed/crawl';
import {
  MIGRATIONS_FOLDER,
  MigrationLockedError,
  migrate,
  openDatabase,
  pendingMigrations,
} from '@birdfeed/db';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATE_LOCK_KEY } from '../packages/db/src/migrate.ts';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';

const CONTRACT_TABLES = [
  'crawl_checkpoints',
  'crawl_failures',
  'crawl_gaps',
  'crawl_runs',
  'media',
  'media_faces',
  'media_focus_rects',
  'provider_spend',
  'raw_pages',
  'tweet_media',
  'tweet_metrics',
  'tweet_references',
  'tweets',
  'user_metrics',
  'users',
  'watch_targets',
];

const journal = JSON.parse(readFileSync(join(MIGRATIONS_FOLDER, 'meta/_journal.json'), 'utf8')) as {
  entries: { tag: string }[];
};

async function publicTables(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ table_name: string }>(
      `select table_name from information_schema.tables where table_schema = 'public' order by 1`,
    );
    return rows.map((row) => row.table_name);
  } finally {
    await client.end();
  }
}

describe('migrate on Postgres', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase('migrate');
  });
  afterAll(async () => {
    await database?.drop();
  });

  it('two concurrent runs on an empty database apply every migration exactly once', async () => {
    const first = await openDatabase({ url: database.url });
    const second = await openDatabase({ url: database.url });
    try {
      const results = await Promise.all([migrate(first.db), migrate(second.db)]);
      const appliedCounts = results.map((result) => result.applied.length).sort();
      expect(appliedCounts).toEqual([0, journal.entries.length]);
      expect(results.flatMap((result) => result.applied)).toEqual(
        journal.entries.map((entry) => entry.tag),
      );
      expect(await publicTables(database.url)).toEqual(CONTRACT_TABLES);
      // Safe to run again: nothing left to apply, nothing fails.
      const again = await migrate(first.db);
      expect(again).toEqual({ applied: [], alreadyApplied: journal.entries.length });
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });

  it('refuses with MigrationLockedError while another run holds the lock (wait: false)', async () => {
    const holder = new pg.Client({ connectionString: database.url });
    await holder.connect();
    const database2 = await openDatabase({ url: database.url });
    try {
      await holder.query('begin');
      await holder.query('select pg_advisory_xact_lock($1)', [MIGRATE_LOCK_KEY.toString()]);
      await expect(migrate(database2.db, { wait: false })).rejects.toBeInstanceOf(
        MigrationLockedError,
      );
      // The default waits instead, and finishes once the holder lets go.
      let waited = false;
      const waiting = migrate(database2.db, {
        onWait: () => {
          waited = true;
        },
      });
      // Let go only once the second run has found the lock held (a fixed delay may be too
      // short on a loaded machine, and then it would never have had to wait).
      const deadline = Date.now() + 30_000;
      while (!waited && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await holder.query('commit');
      await expect(waiting).resolves.toMatchObject({ applied: [] });
      expect(waited).toBe(true);
    } finally {
      await holder.end();
      await database2.close();
    }
  });
});

describe('migrate on PGlite', () => {
  it('applies to an in-memory database and is idempotent', async () => {
    const database = await openDatabase({});
    try {
      expect(database.kind).toBe('pglite');
      const first = await migrate(database.db);
      expect(first.applied).toEqual(journal.entries.map((entry) => entry.tag));
      const second = await migrate(database.db);
      expect(second.applied).toEqual([]);
    } finally {
      await database.close();
    }
  });
});

/**
 * The migrations as an older checkout had them: a copy of the folder whose journal keeps the
 * entries `keep` accepts. Returns the folder and the tags left out.
 */
function olderMigrations(keep: (tag: string, index: number, all: string[]) => boolean) {
  const folder = mkdtempSync(join(tmpdir(), 'birdfeed-older-migrations-'));
  cpSync(MIGRATIONS_FOLDER, folder, { recursive: true });
  const path = join(folder, 'meta/_journal.json');
  const journal = JSON.parse(readFileSync(path, 'utf8')) as { entries: { tag: string }[] };
  const tags = journal.entries.map((entry) => entry.tag);
  const left = journal.entries.filter((entry, index) => !keep(entry.tag, index, tags));
  journal.entries = journal.entries.filter((entry, index) => keep(entry.tag, index, tags));
  writeFileSync(path, JSON.stringify(journal));
  return { folder, leftOut: left.map((entry) => entry.tag) };
}

describe('a database migrated by an older birdfeed', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase('migrate_behind');
  });
  afterAll(async () => {
    await database?.drop();
  });

  it('is refused at start, naming the migrations not applied, until `migrate` runs', async () => {
    // All but the newest.
    const older = olderMigrations((_, index, all) => index < all.length - 1);
    const newest = older.leftOut[0] as string;
    const opened = await openDatabase({ url: database.url });
    try {
      await migrate(opened.db, { migrationsFolder: older.folder });
      expect(await pendingMigrations(opened.db)).toEqual([newest]);
    } finally {
      await opened.close();
    }
    const refused = await openCrawlDatabase({ url: database.url, description: 'DATABASE_URL' })
      .then(async (db) => {
        await db.close();
        return null;
      })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(MigrationsMissingError);
    expect((refused as Error).message).toContain(`is behind this birdfeed: ${newest} not applied`);
    const current = await openDatabase({ url: database.url });
    try {
      await migrate(current.db);
      expect(await pendingMigrations(current.db)).toEqual([]);
    } finally {
      await current.close();
    }
    const ok = await openCrawlDatabase({ url: database.url });
    await ok.close();
  });
});

describe('migration 0005 (metrics_observed_at)', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase('migrate_0005');
  });
  afterAll(async () => {
    await database?.drop();
  });

  it('dates the counts already stored at their row observed_at, and leaves rows without counts NULL', async () => {
    const upTo0004 = olderMigrations((tag) => tag < '0005');
    const opened = await openDatabase({ url: database.url });
    await migrate(opened.db, { migrationsFolder: upTo0004.folder });
    await opened.close();
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const seen = "'2024-01-02T03:04:05Z', '2024-01-01Z', '2024-01-02T03:04:05Z'";
      await client.query(`INSERT INTO users (id, username, followers_count, observed_at, first_seen_at, last_seen_at)
        VALUES (1, 'counted', 10, ${seen}), (2, 'lookup_only', NULL, ${seen})`);
      await client.query(`INSERT INTO tweets (id, like_count, observed_at, first_seen_at, last_seen_at)
        VALUES (3, 5, ${seen}), (4, NULL, ${seen})`);
      const current = await openDatabase({ url: database.url });
      expect((await migrate(current.db)).applied).toContain('0005_metrics_observed_at');
      await current.close();
      const { rows } = await client.query<{ id: string; at: string | null }>(
        `SELECT id::text, to_char(metrics_observed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS at
         FROM users UNION ALL
         SELECT id::text, to_char(metrics_observed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')
         FROM tweets ORDER BY 1`,
      );
      expect(rows).toEqual([
        { id: '1', at: '2024-01-02 03:04:05' },
        { id: '2', at: null },
        { id: '3', at: '2024-01-02 03:04:05' },
        { id: '4', at: null },
      ]);
    } finally {
      await client.end();
    }
  });
});
