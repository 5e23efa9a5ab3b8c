import { once } from 'node:events';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import type { PGlite } from '@electric-sql/pglite';

/**
 * Serves one PGlite database over the Postgres wire protocol to any number of clients (psql,
 * node-postgres pools in other processes), one protocol exchange at a time.
 *
 * Why not `@electric-sql/pglite-socket`'s PGLiteSocketServer: its multiplexer (0.2.17) queues
 * single protocol messages, so with two clients the Parse/Bind/Execute/Sync of one interleave
 * with the other's and PGlite's single unnamed statement is overwritten ("bind message supplies
 * 3 parameters, but prepared statement "" requires 1", "portal "" does not exist" — reproduced
 * with a node-postgres Pool of 8 running parameterized queries). It only keeps an explicit
 * transaction together. PGlite has one backend, so the only safe unit is what a real backend
 * would run between two ReadyForQuery messages:
 *
 * - a client's messages are buffered until a Sync ('S') or a simple Query ('Q') and sent to
 *   PGlite together, under its exclusive lock;
 * - the client that ran last keeps the backend while PGlite is inside a transaction block, or
 *   after a Flush ('H') that left an extended-protocol exchange open; everyone else waits;
 * - a client that disconnects while holding the backend has its transaction rolled back.
 *
 * - named prepared statements and portals of the extended protocol (node-postgres'
 *   `{ name }` queries, which @birdfeed/db uses on its hot path) are renamed per client
 *   (`c<id>_<name>`) on the way in, so two connections that prepare the same name each get
 *   their own, as on a real server; they are deallocated when their client goes.
 *
 * - statements that change session state for good (SET outside a transaction's LOCAL, RESET,
 *   DISCARD, LISTEN, SQL-level PREPARE/DEALLOCATE) are refused with an error: the one backend's
 *   session is everyone's, and a psql `SET search_path` broke the demo's own queries.
 *
 * Limits (it is one backend, not a server): other session state (set_config(), temp tables) is
 * shared by all clients, COPY FROM STDIN is not supported, and a client that opens a
 * transaction and waits on another connection deadlocks both (node-postgres code that awaits a
 * second pool connection inside a transaction must not be pointed at it).
 */
export interface PgliteWireServerOptions {
  db: PGlite;
  /** @defaultValue '127.0.0.1' */
  host?: string | undefined;
  /** 0 = any free port. @defaultValue 5433 */
  port?: number | undefined;
}

export interface RunningPgliteWireServer {
  readonly host: string;
  readonly port: number;
  /** `postgres://postgres@host:port/postgres`: what psql and node-postgres connect to. */
  readonly url: string;
  /** Clients connected right now. */
  connections(): number;
  /** Stops accepting, closes every client (rolling back an open transaction). */
  stop(): Promise<void>;
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const PROTOCOL_3 = 196608;

/** Reads a NUL-terminated string at `offset`; returns it and the offset after the NUL. */
function cString(message: Buffer, offset: number): [string, number] {
  const end = message.indexOf(0, offset);
  if (end < 0) throw new RangeError('unterminated string in a protocol message');
  return [message.toString('utf8', offset, end), end + 1];
}

/**
 * Gives a client's named statements and portals names of their own in the one backend. Only
 * the frontend messages that carry those names are rebuilt: Parse, Bind, Describe, Close and
 * Execute; the unnamed ones ("") are left alone (they never outlive an exchange, which runs
 * alone). `names` collects the statement names created, for cleanup.
 */
export function renameForClient(message: Buffer, prefix: string, names: Set<string>): Buffer {
  const type = String.fromCharCode(message[0] ?? 0);
  const rename = (name: string) => (name === '' ? '' : `${prefix}${name}`);
  const rebuild = (parts: Buffer[]) => {
    const body = Buffer.concat(parts);
    const header = Buffer.alloc(5);
    header[0] = message[0] ?? 0;
    header.writeInt32BE(body.length + 4, 1);
    return Buffer.concat([header, body]);
  };
  const str = (value: string) => Buffer.from(`${value}\0`, 'utf8');
  switch (type) {
    case 'P': {
      const [name, rest] = cString(message, 5);
      if (name === '') return message;
      names.add(rename(name));
      return rebuild([str(rename(name)), message.subarray(rest)]);
    }
    case 'B': {
      const [portal, afterPortal] = cString(message, 5);
      const [statement, rest] = cString(message, afterPortal);
      if (portal === '' && statement === '') return message;
      return rebuild([str(rename(portal)), str(rename(statement)), message.subarray(rest)]);
    }
    case 'D':
    case 'C': {
      const kind = message.subarray(5, 6);
      const [name, rest] = cString(message, 6);
      if (name === '') return message;
      if (type === 'C' && kind.toString() === 'S') names.delete(rename(name));
      return rebuild([kind, str(rename(name)), message.subarray(rest)]);
    }
    case 'E': {
      const [portal, rest] = cString(message, 5);
      if (portal === '') return message;
      return rebuild([str(rename(portal)), message.subarray(rest)]);
    }
    default:
      return message;
  }
}

/** A statement whose effect outlives it in the session (see the module comment). */
const SESSION_STATEMENT =
  /(?:^|;)\s*(?:set(?!\s+(?:local|transaction|constraints)\b)|reset|discard|listen|prepare|deallocate)\b/i;

/** The SQL text of a simple Query or a Parse in an exchange that changes session state. */
export function sessionStatementIn(exchange: Buffer): string | null {
  try {
    return findSessionStatement(exchange);
  } catch {
    return null; // malformed: PGlite answers it as a real backend would
  }
}

function findSessionStatement(exchange: Buffer): string | null {
  let offset = 0;
  while (offset + 5 <= exchange.length) {
    const type = String.fromCharCode(exchange[offset] ?? 0);
    const end = offset + 1 + exchange.readInt32BE(offset + 1);
    if (type === 'Q' || type === 'P') {
      const message = exchange.subarray(offset, end);
      const text =
        type === 'Q' ? cString(message, 5)[0] : cString(message, cString(message, 5)[1])[0];
      if (SESSION_STATEMENT.test(text)) return text;
    }
    offset = end;
  }
  return null;
}

/** ErrorResponse (feature_not_supported) then ReadyForQuery, as a server ends a failed exchange. */
function refusal(message: string): Buffer {
  const fields = Buffer.from(`SERROR\0VERROR\0C0A000\0M${message}\0\0`, 'utf8');
  const error = Buffer.alloc(5);
  error[0] = 'E'.charCodeAt(0);
  error.writeInt32BE(fields.length + 4, 1);
  const ready = Buffer.from([0x5a, 0, 0, 0, 5, 0x49]); // 'Z', length 5, 'I' (idle)
  return Buffer.concat([error, fields, ready]);
}

class WireClient {
  private buffer: Buffer = Buffer.alloc(0);
  /** Backend names of this client's prepared statements, deallocated when it goes. */
  readonly statements = new Set<string>();
  private started = false;
  private pending: Buffer[] = [];
  /** Exchanges (message groups) ready to run, in order. */
  readonly ready: { bytes: Buffer; ends: 'sync' | 'flush' | 'terminate'; startup?: true }[] = [];
  closed = false;

  constructor(
    readonly id: number,
    readonly socket: Socket,
  ) {}

  /** Splits incoming bytes into messages; returns false when the client must be dropped. */
  feed(chunk: Buffer): boolean {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      if (!this.started) {
        if (this.buffer.length < 8) return true;
        const length = this.buffer.readInt32BE(0);
        if (length < 8 || length > 10_000) return false;
        if (this.buffer.length < length) return true;
        const code = this.buffer.readInt32BE(4);
        const message = this.buffer.subarray(0, length);
        this.buffer = this.buffer.subarray(length);
        if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
          // No TLS on a loopback demo server: 'N' tells the client to go on in plain text.
          this.socket.write('N');
          continue;
        }
        // PGlite has no backend to signal; a cancel arrives on its own connection.
        if (code === CANCEL_REQUEST) return false;
        if (code !== PROTOCOL_3) return false;
        this.started = true;
        this.ready.push({ bytes: Buffer.from(message), ends: 'sync', startup: true });
        continue;
      }
      if (this.buffer.length < 5) return true;
      const length = 1 + this.buffer.readInt32BE(1);
      if (length < 5) return false;
      if (this.buffer.length < length) return true;
      const type = String.fromCharCode(this.buffer[0] ?? 0);
      try {
        this.pending.push(
          renameForClient(
            Buffer.from(this.buffer.subarray(0, length)),
            `c${this.id}_`,
            this.statements,
          ),
        );
      } catch {
        return false; // a malformed message: drop this client, keep serving the others
      }
      this.buffer = this.buffer.subarray(length);
      if (type === 'S' || type === 'Q' || type === 'H' || type === 'X') {
        const bytes = Buffer.concat(this.pending);
        this.pending = [];
        this.ready.push({
          bytes,
          ends: type === 'H' ? 'flush' : type === 'X' ? 'terminate' : 'sync',
        });
      }
    }
  }
}

export async function startPgliteWireServer(
  options: PgliteWireServerOptions,
): Promise<RunningPgliteWireServer> {
  const { db } = options;
  const host = options.host ?? '127.0.0.1';
  const clients = new Set<WireClient>();
  /** The client whose exchange or transaction is open in the one backend. */
  let owner: WireClient | null = null;
  /** Clients with exchanges ready, first come first served (so a busy one starves no one). */
  const waiting: WireClient[] = [];
  const enqueue = (client: WireClient) => {
    if (client.ready.length > 0 && client !== owner && !waiting.includes(client)) {
      waiting.push(client);
    }
  };
  let running = false;
  let nextId = 1;
  let stopping = false;

  const release = async (client: WireClient) => {
    if (owner !== client) return;
    if (db.isInTransaction()) {
      // The client went away inside BEGIN … : what it wrote must not leak into the next one.
      // exec takes PGlite's query lock itself (runExclusive around it would deadlock).
      await db.exec('ROLLBACK').catch(() => {});
    }
    owner = null;
  };
  /** Statements of clients that left, deallocated by the pump while nobody owns the backend. */
  const toDeallocate: string[] = [];

  const pump = async (): Promise<void> => {
    if (running) return;
    running = true;
    try {
      for (;;) {
        if (stopping) break;
        while (owner === null && toDeallocate.length > 0) {
          const name = toDeallocate.shift() as string;
          await db.exec(`DEALLOCATE "${name.replaceAll('"', '""')}"`).catch(() => {});
        }
        let client = owner;
        if (client === null) {
          client = waiting.shift() ?? null;
          while (client !== null && client.ready.length === 0) client = waiting.shift() ?? null;
        }
        const exchange = client?.ready.shift();
        if (client === null || exchange === undefined) break;
        if (exchange.ends === 'terminate') {
          await release(client);
          client.socket.end();
          continue;
        }
        // Only between transactions: inside one, the client's own ROLLBACK/COMMIT ends it.
        if (owner === null && exchange.ends === 'sync') {
          const statement = sessionStatementIn(exchange.bytes);
          if (statement !== null && exchange.startup !== true) {
            if (!client.closed && client.socket.writable) {
              client.socket.write(
                refusal(
                  `birdfeed demo: session settings are shared by every client of this embedded database, so "${statement.trim().slice(0, 60)}" is not run here; use SET LOCAL inside a transaction, or a real Postgres`,
                ),
              );
            }
            enqueue(client);
            continue;
          }
        }
        owner = client;
        const out: Uint8Array[] = [];
        try {
          await db.runExclusive(() =>
            db.execProtocolRawStream(new Uint8Array(exchange.bytes), {
              onRawData: (data) => {
                out.push(Buffer.from(data));
              },
            }),
          );
        } catch {
          // A protocol-level failure inside PGlite (not an SQL error, which comes back as an
          // ErrorResponse): this client's session cannot be trusted any more.
          client.closed = true;
          await release(client);
          client.socket.destroy();
          continue;
        }
        if (!client.closed && client.socket.writable) client.socket.write(Buffer.concat(out));
        if (exchange.ends === 'sync' && !db.isInTransaction()) {
          owner = null;
          enqueue(client);
        }
        if (client.closed) await release(client);
      }
    } finally {
      running = false;
    }
  };

  // Clients 'flush' when they want output before Sync, so a pump must not stall on an owner
  // that has nothing queued: the next data event of that owner calls pump again.
  const server: Server = createServer((socket) => {
    if (stopping) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const client = new WireClient(nextId++, socket);
    clients.add(client);
    socket.on('data', (chunk: Buffer) => {
      if (!client.feed(chunk)) {
        socket.destroy();
        return;
      }
      enqueue(client);
      void pump();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      client.closed = true;
      clients.delete(client);
      // stop() settles the backend itself; PGlite may be closed by the time this fires.
      if (stopping) return;
      client.ready.length = 0;
      toDeallocate.push(...client.statements);
      client.statements.clear();
      void release(client).then(() => pump());
    });
  });
  server.listen(options.port ?? 5433, host);
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([error]) => {
      throw error;
    }),
  ]);
  const port = (server.address() as AddressInfo).port;

  return {
    host,
    port,
    url: `postgres://postgres@${host}:${port}/postgres`,
    connections: () => clients.size,
    async stop() {
      stopping = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const client of clients) client.socket.destroy();
      await closed;
      // Wait for a running exchange to finish before the caller closes PGlite under it.
      while (running) await new Promise((resolve) => setTimeout(resolve, 10));
      if (owner !== null) await release(owner);
    },
  };
}
