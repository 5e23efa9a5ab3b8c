import { type SQL, sql } from 'drizzle-orm';
import { type AnyPgColumn, customType } from 'drizzle-orm/pg-core';

/**
 * A snowflake id: `bigint` in Postgres, a decimal string in TypeScript. drizzle 0.45 offers
 * bigint only as `number` (rounds above 2^53) or `bigint` (breaks JSON.stringify), and the
 * canonical page already carries ids as strings, so ids stay strings end to end.
 * node-postgres returns int8 as a string and PGlite as a JS bigint; both become the string.
 */
export const snowflake = customType<{ data: string; driverData: string | bigint }>({
  dataType() {
    return 'bigint';
  },
  toDriver(value) {
    return value;
  },
  fromDriver(value) {
    return String(value);
  },
});

/**
 * `column in ('a', 'b')` for a CHECK constraint. drizzle-kit writes a check's SQL into the
 * migration as is (a bound parameter would stay a `$1`), so the values are inlined: constants
 * of the model (plain lower-case words), checked to be just that.
 */
export function oneOf(column: AnyPgColumn, values: readonly string[]): SQL {
  for (const value of values) {
    if (!/^[a-z_]+$/.test(value)) throw new Error(`not a plain word: ${JSON.stringify(value)}`);
  }
  return sql`${column} in (${sql.raw(values.map((value) => `'${value}'`).join(', '))})`;
}

/** `a >= 0 and b >= 0 …` for a CHECK constraint: a NULL (not reported) passes. */
export function nonNegative(...columns: AnyPgColumn[]): SQL {
  return sql.join(
    columns.map((column) => sql`${column} >= 0`),
    sql` and `,
  );
}
