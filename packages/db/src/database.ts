import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import type { ExtractTablesWithRelations, SQL } from 'drizzle-orm';
import {
  type PgDatabase,
  PgDialect,
  type PgQueryResultHKT,
  type PgTransaction,
} from 'drizzle-orm/pg-core';
import pg from 'pg';
import { lockDataDir } from './pglite-lock.ts';
import * as schema from './schema/index.ts';
import { Statement, toQuery } from './statement.ts';

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
  /**
   * node-postgres: Postgres cancels a statement running (or waiting on a lock) longer than
   * this, and the pool gives up on a free connection after as long. For processes whose work
   * has a deadline: a statement stuck past it would otherwise keep its connection after the
   * job gave up on it. @defaultValue none
   */
  statementTimeoutMs?: number | undefined;
  /**
   * How errors name this database, without secrets (e.g. `DATABASE_URL=postgres://u:***@h/db`).
   * The url itself never reaches a message: it may carry a password.
   * @defaultValue "the database"
   */
  description?: string | undefined;
}

/**
 * A node-postgres database could not be reached or refused the connection (wrong host or port,
 * no such database, authentication). A condition of the user's setup, not a bug: `reason` is
 * the driver's own words, without the password, and `cause` the driver's error.
 */
export class DatabaseConnectError extends Error {
  override readonly name = 'DatabaseConnectError';
  readonly reason: string;
  /** The driver's code: a SQLSTATE (`3D000`, `28P01`) or a socket error (`ECONNREFUSED`). */
  readonly code: string | undefined;
  constructor(description: string, reason: string, options: { cause: unknown; code?: string }) {
    super(`cannot connect to ${description}: ${reason}`, { cause: options.cause });
    this.reason = reason;
    this.code = options.code;
  }
}

/**
 * Without a deadline a host that drops packets would hang the command for the kernel's TCP
 * timeout (minutes) before saying anything.
 */
const CONNECT_TIMEOUT_MS = 10_000;

/** The driver's error in one line. */
function connectFailureReason(error: unknown, password: string): string {
  let reason: string;
  if (error instanceof AggregateError && error.message === '') {
    // `localhost` resolves to ::1 and 127.0.0.1: Node tries both and reports an AggregateError
    // whose own message is empty; the attempts carry the words.
    reason = [...new Set(error.errors.map((inner) => String((inner as Error)?.message ?? inner)))]
      .filter((message) => message !== '')
      .join('; ');
    if (reason === '') reason = String((error as { code?: unknown }).code ?? 'connection failed');
  } else if (error instanceof Error) {
    reason = error.message || String((error as { code?: unknown }).code ?? error.name);
  } else {
    reason = String(error);
  }
  reason = reason.replace(/\s+/g, ' ').trim();
  // The driver's messages do not quote the password today; one that did would leak it here.
  return password === '' ? reason : reason.split(password).join('***');
}

function passwordOf(url: string): string {
  try {
    return decodeURIComponent(new URL(url).password);
  } catch {
    return '';
  }
}

/**
 * Opens and closes one connection before the pool is handed out, so a wrong or unreachable
 * DATABASE_URL fails here with the driver's reason instead of inside the first query (where
 * drizzle reports "Failed query: …" and keeps the reason in `cause`).
 */
async function checkConnection(url: string, description: string, timeoutMs: number): Promise<void> {
  let client: pg.Client | undefined;
  try {
    client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
    client.on('error', () => {});
    const portProblem = badPortReason(client.port);
    if (portProblem !== undefined) {
      throw new DatabaseConnectError(description, portProblem, { cause: undefined });
    }
    await client.connect();
  } catch (error) {
    if (error instanceof DatabaseConnectError) throw error;
    const code = (error as { code?: unknown } | null)?.code;
    throw new DatabaseConnectError(description, connectFailureReason(error, passwordOf(url)), {
      cause: error,
      ...(typeof code === 'string' ? { code } : {}),
    });
  } finally {
    if (client !== undefined) await endWithin(client, END_TIMEOUT_MS);
  }
}

/**
 * Why the port node-postgres would connect to (the URL's, a `?port=` parameter or PGPORT) is
 * not one, or undefined. Checked before connect(): pg passes the port to net.connect(), which
 * throws at once for NaN, 0 or 70000, leaving pg's socket and connection timer behind; the
 * timer later destroys that socket with an 'error' no one listens to and crashes the process.
 */
function badPortReason(port: number): string | undefined {
  if (Number.isInteger(port) && port >= 1 && port <= 65535) return undefined;
  const what = Number.isNaN(port) ? 'is not a number' : `${port} is out of range`;
  return `the port ${what}: a TCP port is 1 to 65535 (the URL's, a ?port= parameter or PGPORT)`;
}

/**
 * pg's end() resolves on the socket's 'close'. After a connect() that failed before its socket
 * started, no 'close' ever comes: awaited bare, the command waited on nothing, the event loop
 * emptied and node exited 0 halfway through. So the wait is bounded (and the timer keeps the
 * process alive until then).
 */
const END_TIMEOUT_MS = 2_000;

async function endWithin(client: pg.Client, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    client.end().catch(() => {}),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}

/** How long closing a pool waits for its clients before it drops their sockets. */
const POOL_END_TIMEOUT_MS = 5_000;

/**
 * pool.end() waits for every client to be released. drizzle (0.45) ran a transaction's `begin`
 * before its try/finally, so a connection lost at that moment left its client checked out
 * forever (drizzle-orm#6241): end() then never resolved and a worker told to stop never did.
 * patches/drizzle-orm@0.45.4.patch releases it now; this bound stays for any other client a
 * library keeps: after `ms` the clients left are dropped, nothing can be in flight on them.
 */
async function endPool(pool: pg.Pool, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const ended = await Promise.race([
    pool.end().then(() => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    }),
  ]);
  clearTimeout(timer);
  if (ended) return;
  const clients =
    (pool as unknown as { _clients?: Array<{ connection?: { stream?: { destroy(): void } } }> })
      ._clients ?? [];
  for (const client of clients) client.connection?.stream?.destroy();
}

/**
 * Whether the server takes a new connection now, within `timeoutMs`: what tells an outage (it
 * does not) from one connection lost on its own (terminated by an operator or a proxy's
 * timeout, while the server is fine).
 */
export async function databaseAnswers(url: string, timeoutMs = 3_000): Promise<boolean> {
  return checkConnection(url, 'the database', timeoutMs).then(
    () => true,
    () => false,
  );
}

export async function openDatabase(options: OpenDatabaseOptions = {}): Promise<Database> {
  if (options.url !== undefined) {
    const timeout = options.statementTimeoutMs;
    await checkConnection(
      options.url,
      options.description ?? 'the database',
      timeout ?? CONNECT_TIMEOUT_MS,
    );
    const { drizzle } = await import('drizzle-orm/node-postgres');
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.maxConnections ?? 10,
      // A server host that vanished (a partition, a frozen VM) otherwise holds an idle
      // connection open for hours; probes after 30 s idle find it dead.
      keepAlive: true,
      keepAliveInitialDelayMillis: 30_000,
      ...(timeout === undefined
        ? {}
        : { statement_timeout: timeout, connectionTimeoutMillis: timeout }),
    });
    // An idle client that loses its server (restart, failover) emits 'error' on the pool; without
    // a listener that would crash the process instead of just dropping the client.
    pool.on('error', () => {});
    // A checked-out client (a page's transaction) is not covered by the pool's listener: pg-pool
    // takes it off while the client is lent out, so a server that ends the connection then
    // (restart, failover, pg_terminate_backend) crashed the worker with an unhandled 'error'.
    // The statement in flight, or the next one, still fails and the page is retried.
    pool.on('connect', (client) => {
      client.on('error', () => {});
    });
    const db = drizzle(pool, { schema }) as unknown as BirdfeedDb;
    return { db, kind: 'postgres', close: () => endPool(pool, POOL_END_TIMEOUT_MS) };
  }
  const [{ PGlite }, { drizzle }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('drizzle-orm/pglite'),
  ]);
  const dataDir = options.dataDir ?? 'memory://';
  let unlock = () => {};
  if (!dataDir.includes('://')) {
    // PGlite creates its own directory but not the parents (.birdfeed/ on a first run).
    await mkdir(dataDir, { recursive: true });
    unlock = lockDataDir(dataDir);
  }
  let client: InstanceType<typeof PGlite>;
  try {
    client = await PGlite.create(dataDir);
  } catch (error) {
    unlock();
    throw error;
  }
  const db = drizzle(client, { schema }) as unknown as BirdfeedDb;
  return {
    db,
    kind: 'pglite',
    close: async () => {
      try {
        await client.close();
      } finally {
        unlock();
      }
    },
  };
}

/** The rows of a raw `execute()` result; node-postgres and PGlite both put them in `.rows`. */
export function rowsOf<T>(result: unknown): T[] {
  return (result as { rows: T[] }).rows;
}

const dialect = new PgDialect();
const statementNames = new Map<string, string>();

interface PgQueryable {
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: unknown[] }>;
}

interface PGliteQueryable {
  query(text: string, params: unknown[]): Promise<{ rows: unknown[] }>;
}

function sessionClientOf(db: BirdfeedExecutor): unknown {
  return (db as unknown as { _?: { session?: { client?: unknown } } })._?.session?.client;
}

/** The node-postgres Pool or (inside a transaction) PoolClient under a drizzle database. */
function nodePgClientOf(db: BirdfeedExecutor): PgQueryable | undefined {
  const client = sessionClientOf(db);
  return client instanceof pg.Pool || client instanceof pg.Client
    ? (client as unknown as PgQueryable)
    : undefined;
}

function statementName(text: string): string {
  let name = statementNames.get(text);
  if (name === undefined) {
    name = `birdfeed_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
    statementNames.set(text, name);
  }
  return name;
}

/**
 * Runs a statement the hot path repeats on every page as a named prepared statement when the
 * driver is node-postgres: parsed and planned once per connection instead of once per page
 * (planning the wide upserts took ~0.3–0.6 ms each, several per page). The name is derived
 * from the SQL text, so a different column set is a different statement. On PGlite (one
 * in-process connection, no network) it is a plain query.
 */
export async function executePrepared<T>(
  db: BirdfeedExecutor,
  statement: SQL | Statement,
): Promise<T[]> {
  const client = nodePgClientOf(db);
  if (statement instanceof Statement) {
    const { text, params } = toQuery(statement);
    if (client !== undefined) {
      const result = await client.query({ name: statementName(text), text, values: params });
      return result.rows as T[];
    }
    // PGlite, or its transaction: both take text and parameters.
    const pglite = sessionClientOf(db) as PGliteQueryable;
    return (await pglite.query(text, params)).rows as T[];
  }
  if (client === undefined) return rowsOf<T>(await db.execute(statement));
  const query = dialect.sqlToQuery(statement);
  const result = await client.query({
    name: statementName(query.sql),
    text: query.sql,
    values: query.params,
  });
  return result.rows as T[];
}
