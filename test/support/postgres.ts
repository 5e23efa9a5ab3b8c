import { randomUUID } from 'node:crypto';
import pg from 'pg';

/**
 * Every integration test gets a database of its own, created from the admin connection and
 * dropped afterwards, so tests never share rows and can run in parallel.
 */
export const ADMIN_DATABASE_URL =
  process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * The start of every test database's name: checkouts that share one Postgres can each tell
 * (and drop) what a crashed run of theirs left behind.
 */
const DATABASE_PREFIX = process.env.TEST_DATABASE_PREFIX ?? 'bf';

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(label = 'test'): Promise<TestDatabase> {
  const name = `${DATABASE_PREFIX}_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
      await client.connect();
      // A pool's end() resolves as soon as it has *asked* its clients to close; their backends
      // may still be alive for a moment. FORCE would terminate them, and a client that receives
      // that FATAL while ending emits 'error' (an uncaught exception in a pool without an error
      // listener). So wait, with a generous deadline, for the test's own connections to go
      // away; FORCE is only for whatever a failed test leaked.
      client.on('error', () => {});
      try {
        const deadline = Date.now() + 10_000;
        while (Date.now() < deadline) {
          const { rows } = await client.query<{ n: number }>(
            'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
            [name],
          );
          if (rows[0]?.n === 0) break;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}
