import type { ExtractTablesWithRelations } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from 'drizzle-orm/pg-core';
import * as schema from './schema/index.ts';

export type Schema = typeof schema;

/**
 * A drizzle Postgres database over either driver (node-postgres or PGlite). Every function in
 * this package takes one of these, or a transaction, first.
 */
export type BirdfeedDb = PgDatabase<PgQueryResultHKT, Schema>;
export type BirdfeedTx = PgTransaction<
  PgQueryResultHKT,
  Schema,
  ExtractTablesWithRelations<Schema>
>;
/** Anything statements can run on: the database or a transaction inside it. */
export type BirdfeedExecutor = BirdfeedDb | BirdfeedTx;

export interface Database {
  db: BirdfeedDb;
  kind: 'postgres' | 'pglite';
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** A postgres:// connection string: node-postgres Pool. */
  url?: string | undefined;
  /** PGlite data directory when no url is given; neither = an in-memory PGlite. */
  dataDir?: string | undefined;
  /** Pool size for node-postgres. @defaultValue 10 */
  maxConnections?: number | undefined;
}

export async function openDatabase(options: OpenDatabaseOptions = {}): Promise<Database> {
  if (options.url !== undefined) {
    const [{ default: pg }, { drizzle }] = await Promise.all([
      import('pg'),
      import('drizzle-orm/node-postgres'),
    ]);
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.maxConnections ?? 10,
    });
    // An idle client that loses its server (restart, failover) emits 'error' on the pool; without
    // a listener that would crash the process instead of just dropping the client.
    pool.on('error', () => {});
    const db = drizzle(pool, { schema }) as unknown as BirdfeedDb;
    return { db, kind: 'postgres', close: () => pool.end() };
  }
  const [{ PGlite }, { drizzle }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('drizzle-orm/pglite'),
  ]);
  const client = await PGlite.create(options.dataDir ?? 'memory://');
  const db = drizzle(client, { schema }) as unknown as BirdfeedDb;
  return { db, kind: 'pglite', close: () => client.close() };
}

/** The rows of a raw `execute()` result; node-postgres and PGlite both put them in `.rows`. */
export function rowsOf<T>(result: unknown): T[] {
  return (result as { rows: T[] }).rows;
}
