import { customType } from 'drizzle-orm/pg-core';

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
