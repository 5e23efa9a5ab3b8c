import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ADMIN_DATABASE_URL } from '../../../test/support/postgres.ts';
import { openDatabase } from '../src/index.ts';

/**
 * A URL whose port no socket can use. node-postgres handed it to net.connect(), which threw
 * before any socket started: connect() rejected, the end() after it waited for a 'close' that
 * never came, and a command awaiting openDatabase() simply stopped (node exited 0), while pg's
 * connection timer later crashed a long-running process with an unhandled 'error'.
 */
describe('openDatabase with a port that is not one', () => {
  it.each([
    ['?port=abc', /the port is not a number: a TCP port is 1 to 65535/],
    ['?port=70000', /the port 70000 is out of range/],
    ['?port=0', /the port 0 is out of range/],
  ])(
    '%s: refuses at once, naming the port, and leaves no timer behind',
    async (query, reason) => {
      const url = new URL(ADMIN_DATABASE_URL);
      url.pathname = '/never_connected';
      const started = Date.now();
      // A short connect deadline: a pg timer left running would fire (and crash) within the test.
      const error = await openDatabase({
        url: `${url.href}${query}`,
        statementTimeoutMs: 200,
        description: 'DATABASE_URL=…',
      }).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).name).toBe('DatabaseConnectError');
      expect((error as Error).message).toMatch(/^cannot connect to DATABASE_URL=…: /);
      expect((error as Error).message).toMatch(reason);
      // An unhandled 'error' from pg's connection timer would fail the run here.
      await sleep(500);
    },
    10_000,
  );
});

describe('closing a Postgres database whose pool lost a client', () => {
  it('ends within its timeout and drops the client left checked out', async () => {
    // What drizzle leaves after a connection lost at a transaction's `begin`: a client checked
    // out and never released. pool.end() waited for it forever; a stopping worker never stopped.
    const database = await openDatabase({ url: ADMIN_DATABASE_URL });
    const pool = (database.db as unknown as { $client: import('pg').Pool }).$client;
    const leaked = await pool.connect();
    let closed = false;
    leaked.on('end', () => {
      closed = true;
    });
    const started = Date.now();
    await database.close();
    expect(Date.now() - started).toBeLessThan(8_000);
    await sleep(100);
    expect(closed).toBe(true);
  }, 20_000);
});
