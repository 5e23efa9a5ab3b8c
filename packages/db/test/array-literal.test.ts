import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_DATABASE_URL } from '../../../test/support/postgres.ts';
import { arrayLiteral } from '../src/upsert/unnest-upsert.ts';

// Read-only casts: the admin database is enough, nothing is written.
let client: pg.Client;
beforeAll(async () => {
  client = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  await client.connect();
});
afterAll(async () => {
  await client.end();
});

async function roundTrip(type: string, literal: string): Promise<unknown[]> {
  const { rows } = await client.query<{ v: unknown[] }>(`select $1::${type}[] as v`, [literal]);
  return rows[0]?.v ?? [];
}

describe('arrayLiteral, read back by Postgres', () => {
  it('keeps every string exactly, whatever it holds', async () => {
    const values = [
      'plain',
      '',
      'NULL',
      'null',
      'quote " inside',
      'back\\slash and \\" both',
      'line\nbreak\ttab\rreturn',
      'bell \u0007 escape \u001b form\f back\b',
      'braces {a,b} and, commas',
      '  leading and trailing spaces  ',
      'ünïcödé футбол 日本語',
      'emoji 😀 and a lone surrogate \ud83d',
      '\\u0041 is not an escape here',
      'slash / and \\/',
    ];
    const back = await roundTrip('text', arrayLiteral('text', values));
    // A lone surrogate cannot be UTF-8: node-postgres sends U+FFFD, as it would in any parameter.
    expect(back).toEqual(values.map((v) => v.replace('surrogate \ud83d', 'surrogate \ufffd')));
  });

  it('turns null and undefined into NULL elements, not strings', async () => {
    expect(await roundTrip('text', arrayLiteral('text', [null, undefined, 'x']))).toEqual([
      null,
      null,
      'x',
    ]);
  });

  it('carries ids above 2^53, numbers, booleans and times', async () => {
    const ids = ['9223372036854775807', '18014398509481985', '1', null];
    expect(await roundTrip('text', arrayLiteral('bigint', ids))).toEqual(ids);
    expect(await roundTrip('bigint', arrayLiteral('bigint', [1, 2475, null]))).toEqual([
      '1',
      '2475',
      null,
    ]);
    expect(await roundTrip('boolean', arrayLiteral('boolean', [true, false, null]))).toEqual([
      true,
      false,
      null,
    ]);
    const at = new Date('2026-07-07T10:35:03.123Z');
    const [time] = await roundTrip('timestamptz', arrayLiteral('timestamptz', [at]));
    expect((time as Date).toISOString()).toBe(at.toISOString());
  });

  it('carries jsonb values and bigint arrays as text elements', async () => {
    const entities = { hashtags: [{ tag: 'a"b\\c\nd' }], note: 'ü 😀' };
    const { rows } = await client.query<{ v: unknown }>('select (($1::text[])[1])::jsonb as v', [
      arrayLiteral('jsonb', [entities, null]),
    ]);
    expect(rows[0]?.v).toEqual(entities);
    const history = await client.query<{ v: string[] }>(
      'select (($1::text[])[1])::bigint[]::text[] as v',
      [arrayLiteral('bigint[]', [['1', '9223372036854775807'], null])],
    );
    expect(history.rows[0]?.v).toEqual(['1', '9223372036854775807']);
  });
});
