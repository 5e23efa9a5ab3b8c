import { type ParseArgsConfig, parseArgs } from 'node:util';
import { isCalendarDate, snowflakeIdProblem } from '@birdfeed/model';

/**
 * The argument checks every `birdfeed` command shares. Each throws a plain Error whose message
 * names the flag and the value; the commands print it with their usage and exit 2.
 */

/**
 * node:util `parseArgs`, refusing an option given twice. parseArgs keeps the last value of a
 * repeated option without a word, so `--every 15m --every 1h` would quietly mean 1h: a typo or
 * a pasted command line would change what is written. Options declared `multiple: true` may
 * repeat.
 */
export function parseCommandArgs<const T extends ParseArgsConfig>(config: T) {
  const parsed = parseArgs({ ...config, tokens: true as const });
  const seen = new Map<string, string>();
  for (const token of parsed.tokens ?? []) {
    if (token.kind !== 'option' || config.options?.[token.name]?.multiple === true) continue;
    const value = token.value ?? '';
    const earlier = seen.get(token.name);
    if (earlier !== undefined) {
      const values = value === '' && earlier === '' ? '' : ` (${earlier}, then ${value})`;
      throw new Error(`--${token.name} given twice${values}: give it once`);
    }
    seen.set(token.name, value);
  }
  return parsed;
}

/**
 * Why `value` is not an X user id as a user types it (a decimal snowflake within bigint range,
 * from 1), or undefined when it is one; the message puts it after the argument's name and value.
 * X ids start at 1; the model's SNOWFLAKE_PATTERN admits 0 (a placeholder owner elsewhere), a
 * watch target must not.
 */
export function userIdProblem(value: string): string | undefined {
  const problem = snowflakeIdProblem(value);
  if (problem === undefined)
    return value === '0' ? 'is not an X user id (they start at 1)' : undefined;
  // Only what is not a number at all can be a username typed where the id goes.
  return /^[0-9]+$/.test(value)
    ? problem
    : `${problem}; a user id is the account's number (e.g. 2244994945), not its username`;
}

/**
 * An integer option written plainly (`10`, `-5`): not `1e1`, `0x10`, `10.0` or ` 10`, which
 * `Number()` would all accept.
 */
export function parseIntegerFlag(flag: string, text: string, min: number, max: number): number {
  const value = /^(0|-?[1-9][0-9]{0,15})$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= min && value <= max)) {
    throw new Error(`--${flag} ${JSON.stringify(text)}: must be an integer from ${min} to ${max}`);
  }
  return value;
}

const ISO_TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-](\d{2}):(\d{2}))$/i;

/**
 * An ISO-8601 timestamp with a date, a time and an explicit zone (`Z` or `±hh:mm`). `new Date()`
 * takes far more (`12` is 2001-12-01 in the local zone, `2026-06-01` is midnight UTC, `2026-02-30`
 * rolls over to March): an observation time that silently means something else would make every
 * metric of the file wrong.
 */
export function parseTimestampFlag(flag: string, text: string): Date {
  const bad = () =>
    new Error(
      `--${flag} ${JSON.stringify(text)}: must be an ISO-8601 timestamp with a date, a time and a zone, e.g. 2026-06-01T12:00:00Z or 2026-06-01T14:00:00+02:00`,
    );
  const match = ISO_TIMESTAMP.exec(text);
  if (match === null) throw bad();
  const [, year, month, day, hour, minute, second, , offsetHours, offsetMinutes] = match;
  if (
    !isCalendarDate(
      Number(year),
      Number(month),
      Number(day),
      Number(hour),
      Number(minute),
      Number(second ?? 0),
    ) ||
    Number(second ?? 0) > 59 ||
    Number(offsetHours ?? 0) > 23 ||
    Number(offsetMinutes ?? 0) > 59
  ) {
    throw bad();
  }
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) throw bad();
  return date;
}
