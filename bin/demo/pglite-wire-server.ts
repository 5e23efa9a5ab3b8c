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
 * - COPY ... FROM STDIN (what psql's `\copy ... from` sends) is refused with an error too. An
 *   exchange is one synchronous call into PGlite, which cannot wait for the CopyData the client
 *   sends only after it sees CopyInResponse: PGlite read EOF, ended its backend (FATAL "protocol
 *   synchronization was lost") and then spun at 100% CPU in its next call, which blocked this
 *   process for good, Ctrl-C included. COPY ... TO STDOUT comes back whole in its exchange and
 *   works. With COPY FROM STDIN refused no exchange is ever in copy-in mode, so CopyData,
 *   CopyDone and CopyFail are dropped on arrival, as a backend ignores them outside copy-in.
 *
 * - a statement that names idle_in_transaction_session_timeout, idle_session_timeout or
 *   transaction_timeout is refused, even SET LOCAL or set_config(): when one fires, the backend
 *   ends the session (FATAL), and PGlite's next call then spins at 100% CPU, blocking this
 *   process for good (a SET LOCAL idle_in_transaction_session_timeout = 200 and a second of
 *   idling did it). The name is looked for anywhere in the text, quotes and comments included,
 *   as set_config() takes it as a string: a SHOW of one is refused too.
 *
 * - only the messages of an established session reach PGlite, and every client's startup
 *   packet reaches it as one well-formed packet of ours: PGlite ends (or spins) on an unknown
 *   message type and on a startup packet without a user or a terminator, just as a backend
 *   process exits on them, but here that backend is the only one. Should PGlite still throw,
 *   the server stops calling it and tells every client why, instead of hanging them all.
 *
 * Limits (it is one backend, not a server): other session state (set_config(), temp tables) is
 * shared by all clients, and a client that opens a transaction and waits on another connection
 * deadlocks both (node-postgres code that awaits a second pool connection inside a transaction
 * must not be pointed at it).
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

/**
 * Frontend messages of an established session that a backend acts on: Query, Parse, Bind,
 * Execute, Describe, Close, Flush, Sync, FunctionCall, Terminate. (CopyData, CopyDone and
 * CopyFail are dropped before this is asked; anything else is a protocol violation.)
 */
const SESSION_MESSAGES = new Set(['Q', 'P', 'B', 'E', 'D', 'C', 'H', 'S', 'F', 'X']);

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const PROTOCOL_3 = 196608;

/**
 * The startup packet PGlite gets for every client (user and database postgres, protocol 3.0).
 * Not the client's own: PGlite's ProcessStartupPacket ends the one backend (FATAL, then
 * ExitStatus, and no answer to anyone after) on a packet without a terminator or a user name,
 * and it applies none of a client's parameters anyway (options=-c search_path=x,
 * client_encoding, application_name and DateStyle were checked: unchanged, PGlite 0.5.16).
 */
const STARTUP_PACKET = (() => {
  const params = Buffer.from('user\0postgres\0database\0postgres\0\0', 'utf8');
  const header = Buffer.alloc(8);
  header.writeInt32BE(8 + params.length, 0);
  header.writeInt32BE(PROTOCOL_3, 4);
  return Buffer.concat([header, params]);
})();

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
  const rebuild = (parts: Buffer[]) => withHeader(type, Buffer.concat(parts));
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

/**
 * The words of every statement of `sql`, lowercased: its first two, or all of a COPY's, whose
 * direction and source come after the table and its columns. Quoted text ('…', E'…', "…",
 * $tag$…$tag$) counts as one word '', and any other character but a space as a word of its own;
 * comments (`--` lines, nested slash-star blocks) are skipped, so a `;` or a keyword inside
 * quotes or comments is not a statement boundary or a statement.
 */
export function statementHeads(sql: string): string[][] {
  const heads: string[][] = [];
  let words: string[] = [];
  const keep = (word: string) => {
    if (words.length < 2 || words[0] === 'copy') words.push(word);
  };
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i] as string;
    const next = sql[i + 1];
    if (c === '-' && next === '-') {
      // Postgres ends a -- comment at a carriage return too.
      const end = sql.slice(i).search(/[\r\n]/);
      i = end < 0 ? n : i + end + 1;
    } else if (c === '/' && next === '*') {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        const pair = sql.slice(i, i + 2);
        if (pair === '/*' || pair === '*/') {
          depth += pair === '/*' ? 1 : -1;
          i += 2;
        } else i += 1;
      }
    } else if (c === "'" || c === '"') {
      const backslashes =
        c === "'" && /[eE]/.test(sql[i - 1] ?? '') && !/\w/.test(sql[i - 2] ?? '');
      i += 1;
      while (i < n) {
        if (backslashes && sql[i] === '\\') i += 2;
        else if (sql[i] === c && sql[i + 1] === c) i += 2;
        else if (sql[i] === c) break;
        else i += 1;
      }
      i += 1;
      keep('');
    } else if (
      c === '$' &&
      /[\p{L}_$]/u.test(next ?? '') &&
      !/[\p{L}\p{N}_$]/u.test(sql[i - 1] ?? '')
    ) {
      const tag = /^\$[\p{L}_][\p{L}\p{N}_]*\$|^\$\$/u.exec(sql.slice(i));
      if (tag === null) i += 1;
      else {
        const end = sql.indexOf(tag[0], i + tag[0].length);
        i = end < 0 ? n : end + tag[0].length;
        keep('');
      }
    } else if (c === ';') {
      if (words.length > 0) heads.push(words);
      words = [];
      i += 1;
    } else if (/[A-Za-z_]/.test(c)) {
      const word = /^[A-Za-z_]\w*/.exec(sql.slice(i, i + 64))?.[0] ?? c;
      keep(word.toLowerCase());
      i += word.length;
    } else {
      if (!/\s/.test(c)) keep(c);
      i += 1;
    }
  }
  if (words.length > 0) heads.push(words);
  return heads;
}

/** What the wire server refuses to run (module comment), each with its own reason and advice. */
export type RefusedStatement =
  | 'SET'
  | 'RESET'
  | 'DISCARD'
  | 'LISTEN'
  | 'PREPARE'
  | 'DEALLOCATE'
  | 'COPY FROM STDIN'
  | 'SESSION-ENDING TIMEOUT';

const SESSION_KEYWORDS = new Map<string, RefusedStatement>([
  ['reset', 'RESET'],
  ['discard', 'DISCARD'],
  ['listen', 'LISTEN'],
  ['prepare', 'PREPARE'],
  ['deallocate', 'DEALLOCATE'],
]);
const TRANSACTION_SETS = new Set(['local', 'transaction', 'constraints']);
/** Settings whose timeout ends the session (module comment). */
const SESSION_ENDING_TIMEOUTS =
  /\b(?:idle_in_transaction_session_timeout|idle_session_timeout|transaction_timeout)\b/i;

/**
 * Whether the words of a COPY read rows from the client: `COPY [BINARY] table [(columns)] FROM
 * STDIN …`. FROM and TO are reserved words, so outside parentheses (a column list, or the query
 * of `COPY (SELECT … FROM …) TO …`) the first of them is the direction; quoted names are ''.
 */
function copiesFromClient(words: string[]): boolean {
  let depth = 0;
  for (let at = 1; at < words.length; at += 1) {
    const word = words[at];
    if (word === '(') depth += 1;
    else if (word === ')') depth -= 1;
    else if (depth === 0 && (word === 'from' || word === 'to')) {
      return word === 'from' && words[at + 1] === 'stdin';
    }
  }
  return false;
}

/** The first statement of `sql` this server refuses to run (module comment), if there is one. */
export function refusedStatement(sql: string): RefusedStatement | null {
  for (const words of statementHeads(sql)) {
    const [first, second] = words;
    if (first === undefined) continue;
    const session = SESSION_KEYWORDS.get(first);
    if (session !== undefined) return session;
    if (first === 'set' && !TRANSACTION_SETS.has(second ?? '')) return 'SET';
    if (first === 'copy' && copiesFromClient(words)) return 'COPY FROM STDIN';
  }
  return SESSION_ENDING_TIMEOUTS.test(sql) ? 'SESSION-ENDING TIMEOUT' : null;
}

/** The refused statement of a simple Query or a Parse in an exchange, if one is there. */
export function refusedStatementIn(exchange: Buffer): RefusedStatement | null {
  try {
    let offset = 0;
    while (offset + 5 <= exchange.length) {
      const type = String.fromCharCode(exchange[offset] ?? 0);
      const end = offset + 1 + exchange.readInt32BE(offset + 1);
      if (type === 'Q' || type === 'P') {
        const message = exchange.subarray(offset, end);
        const text =
          type === 'Q' ? cString(message, 5)[0] : cString(message, cString(message, 5)[1])[0];
        const found = refusedStatement(text);
        if (found !== null) return found;
      }
      offset = end;
    }
    return null;
  } catch {
    return null; // malformed: PGlite answers it as a real backend would
  }
}

const SHARED = 'every client of this embedded database shares';
const REAL_POSTGRES = 'point DATABASE_URL at a real Postgres';

/** Why a statement is refused (the error's message) and what to do instead (its hint). */
export function refusal(statement: RefusedStatement): { message: string; hint: string } {
  const why = (what: string) => `birdfeed demo: ${what}, so it is not run here`;
  switch (statement) {
    case 'SET':
      return {
        message: why(`SET would change the session ${SHARED}`),
        hint: `Use SET LOCAL inside a transaction (BEGIN; SET LOCAL ...; ...; COMMIT), or ${REAL_POSTGRES}.`,
      };
    case 'RESET':
      return {
        message: why(`RESET would change the session ${SHARED}`),
        hint: 'Nothing of yours needs it: SET is refused here, and a SET LOCAL ends with its transaction (COMMIT or ROLLBACK), or can be SET LOCAL again inside it.',
      };
    case 'DISCARD':
      return {
        message: why(
          `DISCARD would drop the prepared statements, plans and temporary tables of the session ${SHARED}`,
        ),
        hint: 'Reconnect instead: the statements a connection prepares are dropped when it closes.',
      };
    case 'LISTEN':
      return {
        message: why(`LISTEN would subscribe the session ${SHARED}`),
        hint: `This server relays no notifications between clients: poll a table instead, or ${REAL_POSTGRES} for LISTEN/NOTIFY.`,
      };
    case 'PREPARE':
      return {
        message: why(`SQL PREPARE would name a statement in the session ${SHARED}`),
        hint: 'Run the statement itself, or prepare it through the extended protocol (a named query of your driver, e.g. node-postgres { name, text }), which this server keeps per connection.',
      };
    case 'DEALLOCATE':
      return {
        message: why(
          `DEALLOCATE would drop prepared statements of the session ${SHARED}, other clients' too`,
        ),
        hint: 'The statements a connection prepares are dropped when it closes, or one at a time by its driver (a Close message).',
      };
    case 'COPY FROM STDIN':
      return {
        message:
          "birdfeed demo: COPY ... FROM STDIN (psql's \\copy ... from) is not supported by this embedded database: each client's messages run in PGlite as one batch, which cannot wait for the rows a client sends after the COPY",
        hint: `Use INSERT ... VALUES, birdfeed ingest for saved provider responses, or ${REAL_POSTGRES}. COPY ... TO STDOUT (\\copy ... to) works.`,
      };
    case 'SESSION-ENDING TIMEOUT':
      return {
        message:
          'birdfeed demo: idle_in_transaction_session_timeout, idle_session_timeout and transaction_timeout end the session when they fire, and this embedded database has one session, which every client shares (it would answer no one after), so a statement that names one is not run here',
        hint: `To bound a statement, use statement_timeout (SET LOCAL inside a transaction), which cancels only the statement; for the others, ${REAL_POSTGRES}.`,
      };
  }
}

/** A string literal of standard SQL (standard_conforming_strings: backslashes are plain). */
function sqlLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/**
 * What runs instead of an exchange that ends in Sync and holds a refused statement: a simple
 * Query whose DO block fails with feature_not_supported, so PGlite itself answers as a server
 * would (ErrorResponse, ReadyForQuery; inside a transaction block, the block is aborted until
 * the client's ROLLBACK).
 */
function refusalQuery(statement: RefusedStatement): Buffer {
  const { message, hint } = refusal(statement);
  const sql = `DO $birdfeed$ BEGIN RAISE EXCEPTION USING ERRCODE = 'feature_not_supported', MESSAGE = ${sqlLiteral(message)}, HINT = ${sqlLiteral(hint)}; END $birdfeed$`;
  return withHeader('Q', Buffer.from(`${sql}\0`, 'utf8'));
}

/**
 * An ErrorResponse of this server's own: a refusal in an exchange that ends in Flush (no Sync
 * yet: ERROR, feature_not_supported), or why a client is dropped (FATAL).
 */
function errorResponse(
  severity: 'ERROR' | 'FATAL',
  code: string,
  message: string,
  hint?: string,
): Buffer {
  const fields = [`S${severity}`, `V${severity}`, `C${code}`, `M${message}`];
  if (hint !== undefined) fields.push(`H${hint}`);
  return withHeader('E', Buffer.from(`${fields.join('\0')}\0\0`, 'utf8'));
}

function readyForQuery(status: 'I' | 'T'): Buffer {
  return withHeader('Z', Buffer.from(status));
}

/** A protocol message: its type byte and length (which counts itself), then `body`. */
function withHeader(type: string, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header[0] = type.charCodeAt(0);
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

class WireClient {
  private buffer: Buffer = Buffer.alloc(0);
  /** Backend names of this client's prepared statements, deallocated when it goes. */
  readonly statements = new Set<string>();
  private started = false;
  /** A refused exchange ended in Flush: drop this client's messages up to its Sync. */
  discardUntilSync = false;
  private pending: Buffer[] = [];
  /** Exchanges (message groups) ready to run, in order. */
  readonly ready: { bytes: Buffer; ends: 'sync' | 'flush' | 'terminate'; startup?: true }[] = [];
  closed = false;

  constructor(
    readonly id: number,
    readonly socket: Socket,
  ) {}

  /**
   * Splits incoming bytes into messages. Returns null while the client may stay; else why it is
   * dropped, with the FATAL error it gets ('' for none: a cancel request, or bytes that are not
   * this protocol at all).
   */
  feed(chunk: Buffer): string | null {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      if (!this.started) {
        if (this.buffer.length < 8) return null;
        const length = this.buffer.readInt32BE(0);
        if (length < 8 || length > 10_000) return '';
        if (this.buffer.length < length) return null;
        const code = this.buffer.readInt32BE(4);
        this.buffer = this.buffer.subarray(length);
        if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
          // No TLS on a loopback demo server: 'N' tells the client to go on in plain text.
          this.socket.write('N');
          continue;
        }
        // PGlite has no backend to signal; a cancel arrives on its own connection.
        if (code === CANCEL_REQUEST) return '';
        if (code !== PROTOCOL_3) return '';
        this.started = true;
        // The client's own parameters are not passed on (module comment).
        this.ready.push({ bytes: STARTUP_PACKET, ends: 'sync', startup: true });
        continue;
      }
      if (this.buffer.length < 5) return null;
      const length = 1 + this.buffer.readInt32BE(1);
      if (length < 5) return 'invalid message length';
      if (this.buffer.length < length) return null;
      const type = String.fromCharCode(this.buffer[0] ?? 0);
      const message = Buffer.from(this.buffer.subarray(0, length));
      this.buffer = this.buffer.subarray(length);
      // Outside copy-in mode, where no exchange here ever is (module comment), a backend
      // accepts and ignores these: a client may still send them after its COPY failed.
      if (type === 'd' || type === 'c' || type === 'f') continue;
      // Postgres' own words for it; PGlite would exit on it (module comment).
      if (!SESSION_MESSAGES.has(type)) return `invalid frontend message type ${message[0]}`;
      try {
        this.pending.push(renameForClient(message, `c${this.id}_`, this.statements));
      } catch {
        return 'invalid message format'; // dropped alone: the others are served on
      }
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
  /** Set once a call into PGlite threw: the FATAL message every client gets from then on. */
  let lost: string | null = null;

  /** Drops a client, with a FATAL error first unless `fatal` is ''. */
  const drop = (client: WireClient, code: string, fatal: string) => {
    client.closed = true;
    client.ready.length = 0;
    if (fatal === '') client.socket.destroy();
    else client.socket.end(errorResponse('FATAL', code, fatal), () => client.socket.destroy());
  };

  const release = async (client: WireClient) => {
    if (owner !== client) return;
    if (lost === null && db.isInTransaction()) {
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
        if (stopping || lost !== null) break;
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
        // After a refused exchange that ended in Flush, the client's messages up to its Sync
        // are dropped, and the Sync answered, as a server skips to Sync after an error.
        if (client.discardUntilSync) {
          if (exchange.ends === 'sync') {
            client.discardUntilSync = false;
            const status = owner === client && db.isInTransaction() ? 'T' : 'I';
            if (client.socket.writable) client.socket.write(readyForQuery(status));
          }
          enqueue(client);
          continue;
        }
        // Whether or not a transaction is open, and however the exchange ends (Sync or Flush).
        const refused = exchange.startup === true ? null : refusedStatementIn(exchange.bytes);
        if (refused !== null && exchange.ends === 'flush') {
          const { message, hint } = refusal(refused);
          if (client.socket.writable) {
            client.socket.write(errorResponse('ERROR', '0A000', message, hint));
          }
          client.discardUntilSync = true;
          enqueue(client);
          continue;
        }
        const bytes = refused === null ? exchange.bytes : refusalQuery(refused);
        owner = client;
        const out: Uint8Array[] = [];
        try {
          await db.runExclusive(() =>
            db.execProtocolRawStream(new Uint8Array(bytes), {
              onRawData: (data) => {
                out.push(Buffer.from(data));
              },
            }),
          );
        } catch (error) {
          // Not an SQL error (that comes back as an ErrorResponse): PGlite's one backend exited
          // (ExitStatus), and after that its next call spun at 100% CPU, blocking this process
          // for good, or answered nothing (seen after COPY FROM STDIN and after a startup
          // packet without a user). So it is not called again: every client is told why.
          lost = `birdfeed demo: the embedded database stopped after an error it cannot recover from (${(error as Error).message}); stop the demo (Ctrl-C) and start it again`;
          owner = null;
          for (const other of clients) drop(other, 'XX000', lost);
          break;
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
      if (client.closed) return;
      if (lost !== null) {
        drop(client, 'XX000', lost);
        return;
      }
      const dropped = client.feed(chunk);
      if (dropped !== null) {
        drop(client, '08P01', dropped);
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
