import { describe, expect, it } from 'vitest';
import { isRedisConnectionError, RedisOutageLog } from './redis-outage.ts';

function refused(): Error {
  return Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });
}

function harness(connected = false) {
  const lines: { level: string; message: string; fields: Record<string, unknown> }[] = [];
  let now = 0;
  let up = connected;
  const log = new RedisOutageLog(
    {
      error: (fields, message) => lines.push({ level: 'error', message, fields: { ...fields } }),
      info: (fields, message) => lines.push({ level: 'info', message, fields: { ...fields } }),
    },
    'redis://127.0.0.1:6379',
    () => up,
    60_000,
    () => now,
  );
  return {
    log,
    lines,
    advance: (ms: number) => {
      now += ms;
    },
    setUp: (value: boolean) => {
      up = value;
    },
  };
}

describe('RedisOutageLog', () => {
  it('logs an outage once, a reminder per interval with what it held back, and its end', () => {
    const { log, lines, advance } = harness();
    expect(log.report(refused())).toBe(true);
    for (let i = 0; i < 10; i += 1) {
      advance(2_000);
      expect(log.report(refused())).toBe(true);
    }
    expect(lines.map((line) => line.message)).toEqual([
      expect.stringMatching(/^redis unreachable: reconnecting/),
    ]);
    advance(41_000);
    log.report(refused());
    expect(lines[1]).toMatchObject({
      message: 'redis still unreachable',
      fields: { downForS: 61, errorsHeldBack: 10 },
    });
    advance(4_000);
    log.recovered();
    expect(lines[2]).toMatchObject({ level: 'info', message: 'redis reachable again' });
    expect(lines[2]?.fields).toMatchObject({ downForS: 65, errorsHeldBack: 0 });
    expect(log.down).toBe(false);
    log.recovered();
    expect(lines).toHaveLength(3);
  });

  it('leaves other errors to the caller', () => {
    const { log, lines } = harness();
    expect(log.report(new Error('Missing key for job 1. moveToFinished'))).toBe(false);
    expect(lines).toHaveLength(0);
    expect(log.down).toBe(false);
  });

  it("takes a Postgres connection error for Redis's only while Redis is down (the scheduler)", () => {
    const { log, lines, setUp } = harness(true);
    // node-postgres raises the same ECONNREFUSED: with Redis up, the caller must log it.
    expect(log.reportIfDown(refused())).toBe(false);
    expect(log.down).toBe(false);
    expect(lines).toHaveLength(0);
    setUp(false);
    expect(log.reportIfDown(refused())).toBe(true);
    expect(log.down).toBe(true);
  });

  it('knows the errors of a lost connection', () => {
    expect(isRedisConnectionError(refused())).toBe(true);
    expect(isRedisConnectionError(new Error('Connection is closed.'))).toBe(true);
    expect(isRedisConnectionError(new Error('ERR DB index is out of range'))).toBe(false);
    expect(isRedisConnectionError('ECONNREFUSED')).toBe(false);
  });
});
