import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type RunningPgliteWireServer,
  sessionStatement,
  startPgliteWireServer,
  statementHeads,
} from '../bin/demo/pglite-wire-server.ts';

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
    const { connect } = await import('node:net');
    const socket = connect({ host: server.host, port: server.port });
    await once(socket, 'connect');
    // A startup message, then a Parse ('P') whose statement name has no terminating NUL.
    const startup = Buffer.alloc(8);
    startup.writeInt32BE(8, 0);
    startup.writeInt32BE(196608, 4);
    const parse = Buffer.concat([Buffer.from('P'), Buffer.alloc(4), Buffer.from('abc')]);
    parse.writeInt32BE(7, 1);
    socket.write(Buffer.concat([startup, parse]));
    socket.on('error', () => {});
    await once(socket, 'close');
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
      await expect(psqlLike.query('-- a comment\nLISTEN x')).rejects.toThrow(/LISTEN would change/);
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
    expect(sessionStatement("SELECT E'it\\'s; set' AS v")).toBeNull();
    expect(sessionStatement('SET SESSION search_path = x')).toBe('SET');
    expect(sessionStatement('set local statement_timeout = 5')).toBeNull();
    expect(sessionStatement('SET TRANSACTION ISOLATION LEVEL SERIALIZABLE')).toBeNull();
    expect(sessionStatement('ALTER TABLE t ALTER COLUMN v SET STORAGE main')).toBeNull();
    expect(
      sessionStatement(
        'CREATE FUNCTION f() RETURNS void AS $f$ BEGIN SET x = 1; END $f$ LANGUAGE plpgsql',
      ),
    ).toBeNull();
    expect(sessionStatement('/* a /* nested */ comment */ DISCARD ALL')).toBe('DISCARD');
  });

  it('refuses a session statement in an exchange that ends in Flush with one error, then one ReadyForQuery at Sync', async () => {
    const socket = connect(server.port, server.host);
    await once(socket, 'connect');
    let received = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
    });
    const types = () => {
      const out: string[] = [];
      for (let at = 0; at + 5 <= received.length; at += 1 + received.readInt32BE(at + 1)) {
        out.push(String.fromCharCode(received[at] ?? 0));
      }
      return out;
    };
    const until = async (type: string, count: number) => {
      const deadline = Date.now() + 5000;
      while (types().filter((t) => t === type).length < count && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };
    const message = (type: string, ...parts: Buffer[]) => {
      const body = Buffer.concat(parts);
      const header = Buffer.alloc(5);
      header[0] = type.charCodeAt(0);
      header.writeInt32BE(body.length + 4, 1);
      return Buffer.concat([header, body]);
    };
    const str = (value: string) => Buffer.from(`${value}\0`);
    const zeros = (bytes: number) => Buffer.alloc(bytes);
    const params = Buffer.concat([
      str('user'),
      str('postgres'),
      str('database'),
      str('postgres'),
      zeros(1),
    ]);
    const startup = Buffer.alloc(8);
    startup.writeInt32BE(8 + params.length, 0);
    startup.writeInt32BE(196608, 4);
    socket.write(Buffer.concat([startup, params]));
    await until('Z', 1);
    received = Buffer.alloc(0);
    socket.write(
      Buffer.concat([
        message('P', str(''), str('SET search_path = nothing_here'), zeros(2)),
        message('D', Buffer.from('S'), str('')),
        message('H'),
      ]),
    );
    await until('E', 1);
    expect(types()).toEqual(['E']);
    socket.write(
      Buffer.concat([
        message('B', str(''), str(''), zeros(6)),
        message('E', str(''), zeros(4)),
        message('S'),
      ]),
    );
    await until('Z', 1);
    expect(types()).toEqual(['E', 'Z']);
    socket.end();
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
    expect(sessionStatement('-- c\rSET search_path = x')).toBe('SET');
    expect(sessionStatement("SELECT $é$ ' $é$; SET search_path = x; -- '")).toBe('SET');
  });
});
