import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type RunningPgliteWireServer,
  refusedStatement,
  startPgliteWireServer,
  statementHeads,
} from '../bin/demo/pglite-wire-server.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const HAS_PSQL = spawnSync('psql', ['--version']).status === 0;

/** A protocol message: type byte, length, body. */
function message(type: string, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const header = Buffer.alloc(5);
  header[0] = type.charCodeAt(0);
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}
const str = (value: string) => Buffer.from(`${value}\0`);
const zeros = (bytes: number) => Buffer.alloc(bytes);

/** A startup packet (protocol 3.0) with these parameters. */
function startupPacket(params: Record<string, string>): Buffer {
  const body = Buffer.concat([
    ...Object.entries(params).flatMap(([key, value]) => [str(key), str(value)]),
    ...(Object.keys(params).length > 0 ? [zeros(1)] : []),
  ]);
  const header = Buffer.alloc(8);
  header.writeInt32BE(8 + body.length, 0);
  header.writeInt32BE(196608, 4);
  return Buffer.concat([header, body]);
}

/**
 * A client that speaks the protocol byte by byte, for what drivers do not send: its own
 * pipelining, stray or unknown messages, a bare startup packet.
 */
async function rawClient(host: string, port: number) {
  const socket = connect(port, host);
  await once(socket, 'connect');
  socket.on('error', () => {});
  let received = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
  });
  const closed = once(socket, 'close').then(() => true);
  /** The backend messages received so far: type and, for errors, their fields. */
  const messages = () => {
    const out: { type: string; fields: Record<string, string> }[] = [];
    for (let at = 0; at + 5 <= received.length; at += 1 + received.readInt32BE(at + 1)) {
      const type = String.fromCharCode(received[at] ?? 0);
      const fields: Record<string, string> = {};
      if (type === 'E') {
        const body = received.subarray(at + 5, at + 1 + received.readInt32BE(at + 1));
        for (const field of body.toString('utf8').split('\0')) {
          if (field.length > 0) fields[field[0] as string] = field.slice(1);
        }
      }
      out.push({ type, fields });
    }
    return out;
  };
  const types = () => messages().map((m) => m.type);
  return {
    socket,
    messages,
    types,
    clear: () => {
      received = Buffer.alloc(0);
    },
    /** Waits (at most 5 s) until `count` messages of `type` have arrived. */
    async until(type: string, count = 1) {
      const deadline = Date.now() + 5000;
      while (types().filter((t) => t === type).length < count && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    /** Whether the server closed the connection within 5 s. */
    closed: () =>
      Promise.race([closed, new Promise<false>((resolve) => setTimeout(resolve, 5000, false))]),
  };
}

/**
 * The demo's embedded database is one PGlite backend shared by the scheduler, the workers, the
 * demo itself and a user's psql. These are the ways sharing one backend goes wrong, each
 * reproduced with real node-postgres clients over TCP.
 */
let dir: string;
let db: PGlite;
let server: RunningPgliteWireServer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'birdfeed-wire-'));
  db = await PGlite.create(dir);
  server = await startPgliteWireServer({ db, port: 0 });
  await db.exec('CREATE TABLE t (id int PRIMARY KEY, v text)');
});

afterAll(async () => {
  await server.stop();
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('PGlite wire server', () => {
  it('keeps concurrent extended-protocol queries and transactions of 8 connections apart', async () => {
    const pool = new pg.Pool({ connectionString: server.url, max: 8 });
    try {
      const wrong: string[] = [];
      await Promise.all(
        Array.from({ length: 600 }, async (_, i) => {
          if (i % 3 === 0) {
            const { rows } = await pool.query('SELECT $1::int + 1 AS x', [i]);
            if (rows[0]?.x !== i + 1) wrong.push(`select ${i}`);
          } else if (i % 3 === 1) {
            const { rows } = await pool.query('SELECT $1::text || $2::text AS y, $3::int AS w', [
              `a${i}`,
              'b',
              i,
            ]);
            if (rows[0]?.y !== `a${i}b` || rows[0]?.w !== i) wrong.push(`concat ${i}`);
          } else {
            const client = await pool.connect();
            try {
              await client.query('BEGIN');
              await client.query('INSERT INTO t VALUES ($1, $2)', [i, `v${i}`]);
              const { rows } = await client.query('SELECT v FROM t WHERE id = $1', [i]);
              if (rows[0]?.v !== `v${i}`) wrong.push(`txn ${i}`);
              await client.query('COMMIT');
            } finally {
              client.release();
            }
          }
        }),
      );
      expect(wrong).toEqual([]);
      const { rows } = await pool.query('SELECT count(*)::int AS n FROM t');
      expect(rows[0]?.n).toBe(200);
    } finally {
      await pool.end();
    }
  });

  it('gives each connection its own named prepared statements', async () => {
    const a = new pg.Client({ connectionString: server.url });
    const b = new pg.Client({ connectionString: server.url });
    await Promise.all([a.connect(), b.connect()]);
    try {
      for (let round = 0; round < 3; round += 1) {
        const [ra, rb] = await Promise.all([
          a.query({ name: 'same_name', text: 'SELECT $1::int * 2 AS v', values: [round] }),
          b.query({
            name: 'same_name',
            text: "SELECT $1::text || '!' AS v",
            values: [`r${round}`],
          }),
        ]);
        expect(ra.rows[0]?.v).toBe(round * 2);
        expect(rb.rows[0]?.v).toBe(`r${round}!`);
      }
    } finally {
      await Promise.all([a.end(), b.end()]);
    }
    // Deallocated once their clients left (the next exchange runs the cleanup first).
    const c = new pg.Client({ connectionString: server.url });
    await c.connect();
    try {
      await c.query('SELECT 1');
      const { rows } = await c.query(
        "SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name LIKE '%same_name'",
      );
      expect(rows[0]?.n).toBe(0);
    } finally {
      await c.end();
    }
  });

  it('rolls back the transaction of a client that disconnects inside it', async () => {
    const quitter = new pg.Client({ connectionString: server.url });
    quitter.on('error', () => {});
    await quitter.connect();
    await quitter.query('BEGIN');
    await quitter.query('INSERT INTO t VALUES (100000, $1)', ['uncommitted']);
    const other = new pg.Client({ connectionString: server.url });
    try {
      // Even its connection waits for the open transaction: everything it runs must come after
      // the rollback, never inside the other client's transaction.
      const waiting = other
        .connect()
        .then(() => other.query('SELECT count(*)::int AS n FROM t WHERE id = 100000'));
      await new Promise((resolve) => setTimeout(resolve, 50));
      (
        quitter as unknown as { connection: { stream: { destroy(): void } } }
      ).connection.stream.destroy();
      const { rows } = await waiting;
      expect(rows[0]?.n).toBe(0);
    } finally {
      await other.end();
    }
  });

  it('drops a client that sends garbage and keeps serving the others', async () => {
    const raw = await rawClient(server.host, server.port);
    // A startup message, then a Parse ('P') whose statement name has no terminating NUL.
    const parse = Buffer.concat([Buffer.from('P'), Buffer.alloc(4), Buffer.from('abc')]);
    parse.writeInt32BE(7, 1);
    raw.socket.write(Buffer.concat([startupPacket({}), parse]));
    expect(await raw.closed()).toBe(true);
    expect(raw.messages().at(-1)?.fields).toMatchObject({
      S: 'FATAL',
      M: 'invalid message format',
    });
    const pool = new pg.Pool({ connectionString: server.url, max: 1 });
    try {
      const { rows } = await pool.query('SELECT $1::int AS v', [7]);
      expect(rows[0]?.v).toBe(7);
    } finally {
      await pool.end();
    }
  });

  it('reports SQL errors to the client that caused them and keeps serving', async () => {
    const pool = new pg.Pool({ connectionString: server.url, max: 2 });
    try {
      await expect(pool.query('SELECT $1::int / 0', [1])).rejects.toThrow(/division by zero/);
      const { rows } = await pool.query('SELECT 41 + $1::int AS v', [1]);
      expect(rows[0]?.v).toBe(42);
    } finally {
      await pool.end();
    }
  });

  it("refuses a client's session settings, which would apply to every other client", async () => {
    const psqlLike = new pg.Client({ connectionString: server.url });
    const other = new pg.Client({ connectionString: server.url });
    await psqlLike.connect();
    await other.connect();
    try {
      // Simple protocol (psql -c) and extended protocol (a parameterized driver) alike.
      await expect(psqlLike.query('set search_path = nothing_here')).rejects.toThrow(
        /SET would change the session every client of this embedded database shares/,
      );
      await expect(
        psqlLike.query({ text: 'SELECT 1; RESET ALL', values: [] }),
      ).rejects.toMatchObject({ code: '0A000' });
      await expect(psqlLike.query('/* c */ SET statement_timeout = 1')).rejects.toThrow(
        /not run here/,
      );
      await expect(psqlLike.query('-- a comment\nLISTEN x')).rejects.toThrow(
        /LISTEN would subscribe/,
      );
      // Inside a transaction too: the block is aborted until the client rolls it back.
      await psqlLike.query('BEGIN');
      await expect(psqlLike.query('SET search_path = nothing_here')).rejects.toThrow(
        /not run here/,
      );
      await expect(psqlLike.query('SELECT 1')).rejects.toThrow(/aborted/);
      await psqlLike.query('ROLLBACK');
      // Nothing leaked: the other client still finds its tables, without a timeout.
      const { rows } = await other.query('SELECT count(*)::int AS n FROM t, pg_sleep(0.01)');
      expect(rows[0]?.n).toBeGreaterThanOrEqual(0);
      expect((await other.query('SHOW search_path')).rows[0]?.search_path).not.toContain(
        'nothing_here',
      );
      // A transaction's own SET LOCAL is fine, and so is SET inside quoted text or comments.
      await psqlLike.query('BEGIN');
      await psqlLike.query("SET LOCAL search_path = 'public'");
      await psqlLike.query('COMMIT');
      const quoted = await psqlLike.query(
        "SELECT 'done; reset the counter' AS a, $$x; listen y$$ AS b -- z; set w",
      );
      expect(quoted.rows[0]).toEqual({ a: 'done; reset the counter', b: 'x; listen y' });
      await psqlLike.query("UPDATE t SET v = 'a;set' WHERE id = -1");
      expect((await psqlLike.query('SELECT 2 AS v')).rows[0]?.v).toBe(2);
    } finally {
      await psqlLike.end();
      await other.end();
    }
  });

  it('finds the statements of a text past quotes, dollar quotes and comments', () => {
    expect(statementHeads("select 'a;b'; SET x = 1; /* ; */ reset all")).toEqual([
      ['select', ''],
      ['set', 'x'],
      ['reset', 'all'],
    ]);
    expect(refusedStatement("SELECT E'it\\'s; set' AS v")).toBeNull();
    expect(refusedStatement('SET SESSION search_path = x')).toBe('SET');
    expect(refusedStatement('set local statement_timeout = 5')).toBeNull();
    expect(refusedStatement('SET TRANSACTION ISOLATION LEVEL SERIALIZABLE')).toBeNull();
    expect(refusedStatement('ALTER TABLE t ALTER COLUMN v SET STORAGE main')).toBeNull();
    expect(
      refusedStatement(
        'CREATE FUNCTION f() RETURNS void AS $f$ BEGIN SET x = 1; END $f$ LANGUAGE plpgsql',
      ),
    ).toBeNull();
    expect(refusedStatement('/* a /* nested */ comment */ DISCARD ALL')).toBe('DISCARD');
  });

  it('refuses a session statement in an exchange that ends in Flush with one error, then one ReadyForQuery at Sync', async () => {
    const raw = await rawClient(server.host, server.port);
    raw.socket.write(startupPacket({ user: 'postgres', database: 'postgres' }));
    await raw.until('Z');
    raw.clear();
    raw.socket.write(
      Buffer.concat([
        message('P', str(''), str('SET search_path = nothing_here'), zeros(2)),
        message('D', Buffer.from('S'), str('')),
        message('H'),
      ]),
    );
    await raw.until('E');
    expect(raw.types()).toEqual(['E']);
    // The server's own ErrorResponse carries the advice as PGlite's does: a HINT field.
    expect(raw.messages()[0]?.fields.C).toBe('0A000');
    expect(raw.messages()[0]?.fields.H).toMatch(/SET LOCAL inside a transaction/);
    raw.socket.write(
      Buffer.concat([
        message('B', str(''), str(''), zeros(6)),
        message('E', str(''), zeros(4)),
        message('S'),
      ]),
    );
    await raw.until('Z');
    expect(raw.types()).toEqual(['E', 'Z']);
    raw.socket.end();
    const other = new pg.Client({ connectionString: server.url });
    await other.connect();
    try {
      expect((await other.query('SHOW search_path')).rows[0]?.search_path).not.toContain(
        'nothing_here',
      );
    } finally {
      await other.end();
    }
  });

  it('a -- comment ends at a carriage return, and a dollar tag may start with any letter', () => {
    expect(refusedStatement('-- c\rSET search_path = x')).toBe('SET');
    expect(refusedStatement("SELECT $é$ ' $é$; SET search_path = x; -- '")).toBe('SET');
  });

  it('gives each refused statement advice that fits it, not "use SET LOCAL" for all', async () => {
    const client = new pg.Client({ connectionString: server.url });
    await client.connect();
    try {
      const advice: [string, RegExp, RegExp][] = [
        [
          'SET search_path = x',
          /SET would change the session/,
          /Use SET LOCAL inside a transaction/,
        ],
        ['RESET ALL', /RESET would change the session/, /SET LOCAL ends with its transaction/],
        ['DISCARD ALL', /DISCARD would drop the prepared statements/, /Reconnect instead/],
        ['LISTEN x', /LISTEN would subscribe/, /relays no notifications.*poll a table/],
        ['PREPARE p AS SELECT 1', /SQL PREPARE would name a statement/, /extended protocol/],
        ['DEALLOCATE ALL', /DEALLOCATE would drop prepared statements/, /dropped when it closes/],
      ];
      for (const [sql, message, hint] of advice) {
        const error = await client.query(sql).then(
          () => null,
          (caught: unknown) => caught as pg.DatabaseError,
        );
        expect(error, sql).toMatchObject({ code: '0A000' });
        expect(error?.message, sql).toMatch(message);
        expect(error?.hint, sql).toMatch(hint);
        if (!sql.startsWith('SET')) {
          expect(`${error?.message} ${error?.hint}`, sql).not.toMatch(/use SET LOCAL/i);
        }
      }
      expect((await client.query('SELECT 1 AS v')).rows[0]?.v).toBe(1);
    } finally {
      await client.end();
    }
  });

  it('finds COPY ... FROM STDIN in any spelling, and only that direction of COPY', () => {
    for (const sql of [
      'COPY t FROM STDIN',
      'copy t(id) from stdin',
      '/* a */ Copy\n  public.t\t( id, v ) -- b\n  FROM\r\n  StdIn WITH (FORMAT csv)',
      'COPY BINARY t FROM STDIN',
      'COPY "from" FROM STDIN',
      "SELECT 'COPY t TO STDOUT'; COPY t FROM STDIN;",
    ]) {
      expect(refusedStatement(sql), sql).toBe('COPY FROM STDIN');
    }
    for (const sql of [
      'COPY t TO STDOUT',
      'COPY (SELECT id FROM stdin) TO STDOUT',
      "COPY t FROM '/tmp/rows.csv'",
      "SELECT 'COPY t FROM STDIN' AS s -- COPY t FROM STDIN",
      '/* COPY t FROM STDIN */ SELECT 1',
    ]) {
      expect(refusedStatement(sql), sql).toBeNull();
    }
  });

  it('finds a session-ending timeout however it is set, and lets statement_timeout through', () => {
    for (const sql of [
      'SET LOCAL idle_in_transaction_session_timeout = 200',
      "select set_config('Idle_Session_Timeout', '200', false)",
      'BEGIN; SET LOCAL "transaction_timeout" TO 1000',
      'ALTER SYSTEM SET idle_session_timeout = 1',
    ]) {
      expect(refusedStatement(sql), sql).toBe('SESSION-ENDING TIMEOUT');
    }
    expect(refusedStatement('SET LOCAL statement_timeout = 200')).toBeNull();
    expect(refusedStatement("SELECT set_config('lock_timeout', '1s', true)")).toBeNull();
  });

  it.skipIf(!HAS_PSQL)(
    "serves psql's \\copy ... to stdout (COPY TO STDOUT), which needs no refusal",
    async () => {
      await db.exec("INSERT INTO t VALUES (-7, 'copied out') ON CONFLICT DO NOTHING");
      const result = await psql(server.url, [
        '-c',
        '\\copy (SELECT id, v FROM t WHERE id = -7) to stdout with (format csv)',
        '-c',
        'COPY (SELECT 2 AS two) TO STDOUT',
      ]);
      expect(result.stderr).toBe('');
      expect(result.stdout).toBe('-7,copied out\n2\n');
    },
  );
});

/** Runs psql against `url` (no psqlrc, unaligned, tuples only), killed after 15 s. */
async function psql(
  url: string,
  args: string[],
  input = '',
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn('psql', ['-X', '-A', '-t', '-d', url, ...args], {
    env: { ...process.env, PGCONNECT_TIMEOUT: '5', PGOPTIONS: '' },
    stdio: 'pipe',
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdin.on('error', () => {});
  child.stdin.end(input);
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const [code] = await once(child, 'close');
  clearTimeout(timer);
  return { code: code as number | null, stdout, stderr };
}

/**
 * Clients that wedged the whole server, each against a wire server in a process of its own
 * (test/fixtures/pglite-wire-server-process.ts): a wedged PGlite spins synchronously, so in
 * this process it would hang the test instead of failing it. Each test ends by stopping that
 * process with SIGTERM, which a wedged one ignores.
 */
describe('PGlite wire server, against clients that wedged it', () => {
  const processes = new Set<ChildProcess>();
  afterEach(() => {
    for (const child of processes) child.kill('SIGKILL');
    processes.clear();
  });

  async function serverProcess() {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/fixtures/pglite-wire-server-process.ts'],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    processes.add(child);
    const exited = once(child, 'exit').then(([code]) => code as number | null);
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const deadline = Date.now() + 30_000;
    let url: string | undefined;
    while (url === undefined && Date.now() < deadline && child.exitCode === null) {
      url = /^(postgres:\/\/\S+)$/m.exec(output)?.[1];
      if (url === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (url === undefined) throw new Error(`the wire server process did not start:\n${output}`);
    const { hostname, port } = new URL(url);
    return {
      url,
      host: hostname,
      port: Number(port),
      /** SIGTERM; the exit code, or 'ignored SIGTERM' when it is still there after 10 s. */
      async stop(): Promise<number | null | 'ignored SIGTERM'> {
        child.kill('SIGTERM');
        return Promise.race([
          exited,
          new Promise<'ignored SIGTERM'>((resolve) =>
            setTimeout(resolve, 10_000, 'ignored SIGTERM'),
          ),
        ]);
      },
    };
  }

  /** `select 1` on a new node-postgres connection, given 5 s. */
  async function selectOne(url: string): Promise<unknown> {
    const client = new pg.Client({
      connectionString: url,
      connectionTimeoutMillis: 5000,
      query_timeout: 5000,
    });
    client.on('error', () => {});
    try {
      await client.connect();
      return (await client.query('SELECT 1 AS v')).rows[0]?.v;
    } finally {
      await client.end().catch(() => {});
    }
  }

  it.skipIf(!HAS_PSQL)(
    "refuses psql's \\copy ... from stdin with why and what instead; that connection, new ones and SIGTERM still work",
    async () => {
      const server = await serverProcess();
      // The reviewer's command, then a query on the same connection (psql runs every -c in one
      // session, and says so when it had to reconnect).
      const result = await psql(
        server.url,
        ['-c', '\\copy t(id) from stdin', '-c', 'SELECT 1 AS same_connection'],
        '999\n\\.\n',
      );
      expect(result.stderr).toMatch(
        /ERROR: {2}birdfeed demo: COPY \.\.\. FROM STDIN \(psql's \\copy \.\.\. from\) is not supported by this embedded database/,
      );
      expect(result.stderr).toMatch(
        /HINT: {2}Use INSERT \.\.\. VALUES, birdfeed ingest for saved provider responses, or point DATABASE_URL at a real Postgres/,
      );
      expect(result.stderr).not.toMatch(
        /closed the connection|connection to server was lost|reset/i,
      );
      expect(result.stdout).toBe('1\n');
      expect(await selectOne(server.url)).toBe(1);
      expect(await server.stop()).toBe(0);
    },
  );

  it('refuses COPY ... FROM STDIN from a driver, simple and extended protocol, inside a transaction too', async () => {
    const server = await serverProcess();
    const client = new pg.Client({
      connectionString: server.url,
      connectionTimeoutMillis: 5000,
      query_timeout: 5000,
    });
    client.on('error', () => {});
    await client.connect();
    try {
      const copies = [
        'COPY t (id) FROM STDIN',
        '/* rows follow */ copy\n  t\t(id) -- from the client\n  FrOm\n  stdin',
        "SELECT 1; COPY t FROM STDIN WITH (FORMAT csv, DELIMITER ';')",
        { name: 'copy_in', text: 'COPY t FROM STDIN' }, // Parse/Bind/Execute/Sync
      ];
      for (const query of copies) {
        await expect(client.query(query), JSON.stringify(query)).rejects.toMatchObject({
          code: '0A000',
          message: expect.stringMatching(/COPY \.\.\. FROM STDIN .* is not supported/),
          hint: expect.stringMatching(/INSERT/),
        });
      }
      await client.query('BEGIN');
      await expect(client.query('COPY t FROM STDIN')).rejects.toMatchObject({ code: '0A000' });
      await expect(client.query('SELECT 1')).rejects.toThrow(/aborted/);
      await client.query('ROLLBACK');
      expect((await client.query('SELECT count(*)::int AS n FROM t')).rows[0]?.n).toBe(0);
    } finally {
      await client.end();
    }
    expect(await selectOne(server.url)).toBe(1);
    expect(await server.stop()).toBe(0);
  });

  it('drops CopyData, CopyDone and CopyFail, stray or pipelined after a refused COPY, and answers the rest', async () => {
    const server = await serverProcess();
    const raw = await rawClient(server.host, server.port);
    raw.socket.write(startupPacket({ user: 'postgres', database: 'postgres' }));
    await raw.until('Z');
    raw.clear();
    // What a client that does not wait for CopyInResponse sends: the COPY and its rows at once.
    raw.socket.write(
      Buffer.concat([
        message('Q', str('COPY t FROM STDIN')),
        message('d', Buffer.from('5\n')),
        message('c'),
        message('Q', str('SELECT 1')),
      ]),
    );
    await raw.until('Z', 2);
    // ParameterStatus ('S') may come before any ReadyForQuery; PGlite sends its first ones here.
    expect(raw.types().filter((type) => type !== 'S')).toEqual(['E', 'Z', 'T', 'D', 'C', 'Z']);
    expect(raw.messages()[0]?.fields.M).toMatch(/COPY \.\.\. FROM STDIN/);
    raw.clear();
    // Stray ones, with nothing before them, then an extended-protocol Sync.
    raw.socket.write(
      Buffer.concat([
        message('d', Buffer.from('6\n')),
        message('f', str('client gave up')),
        message('c'),
        message('S'),
      ]),
    );
    await raw.until('Z');
    expect(raw.types()).toEqual(['Z']);
    raw.socket.end();
    expect(await selectOne(server.url)).toBe(1);
    expect(await server.stop()).toBe(0);
  });

  it('refuses a timeout that would end the one session, in a transaction or by set_config(), and keeps serving', async () => {
    const server = await serverProcess();
    const client = new pg.Client({
      connectionString: server.url,
      connectionTimeoutMillis: 5000,
      query_timeout: 5000,
    });
    client.on('error', () => {});
    await client.connect();
    try {
      await client.query('BEGIN');
      await expect(
        client.query('SET LOCAL idle_in_transaction_session_timeout = 200'),
      ).rejects.toMatchObject({
        code: '0A000',
        message: expect.stringMatching(/end the session when they fire/),
        hint: expect.stringMatching(/statement_timeout/),
      });
      await client.query('ROLLBACK');
      await expect(
        client.query("SELECT set_config('idle_session_timeout', '200', false)"),
      ).rejects.toMatchObject({ code: '0A000' });
      // Had either run, this idle second would end the session and wedge the next call.
      await client.query('BEGIN');
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect((await client.query('SELECT 1 AS v')).rows[0]?.v).toBe(1);
      await client.query('COMMIT');
    } finally {
      await client.end();
    }
    expect(await selectOne(server.url)).toBe(1);
    expect(await server.stop()).toBe(0);
  });

  it("drops a client that sends a message type no backend accepts, with Postgres' FATAL, and serves the others", async () => {
    const server = await serverProcess();
    const raw = await rawClient(server.host, server.port);
    raw.socket.write(startupPacket({ user: 'postgres', database: 'postgres' }));
    await raw.until('Z');
    raw.clear();
    raw.socket.write(Buffer.concat([message('z'), message('S')]));
    expect(await raw.closed()).toBe(true);
    expect(raw.messages()).toEqual([
      {
        type: 'E',
        fields: { S: 'FATAL', V: 'FATAL', C: '08P01', M: 'invalid frontend message type 122' },
      },
    ]);
    expect(await selectOne(server.url)).toBe(1);
    expect(await server.stop()).toBe(0);
  });

  it('serves a client whose startup packet has no parameters, and everyone after it', async () => {
    const server = await serverProcess();
    const raw = await rawClient(server.host, server.port);
    raw.socket.write(startupPacket({}));
    await raw.until('Z');
    expect(raw.types().at(-1)).toBe('Z');
    expect(raw.types()).not.toContain('E');
    raw.socket.end();
    expect(await selectOne(server.url)).toBe(1);
    expect(await server.stop()).toBe(0);
  });
});
