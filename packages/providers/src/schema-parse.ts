import {
  isCalendarDate,
  isSnowflakeId,
  type ProviderName,
  snowflakeIdProblem,
} from '@birdfeed/model';
import { z } from 'zod';
import { InvalidResponseError } from './errors.ts';

/**
 * Shared building blocks of the raw-body schemas. Objects are loose (unknown keys pass, the
 * providers add fields all the time); the fields we store are strict: ids are decimal strings
 * that fit a Postgres bigint, counts are non-negative integers.
 */
export const snowflakeId = z.string().refine(isSnowflakeId, {
  error: (issue) =>
    `expected a decimal id string, but it ${snowflakeIdProblem(String(issue.input)) ?? 'is not one'}`,
});

export const count = z.number().int().nonnegative();

export const rect = z.looseObject({
  x: z.number(),
  y: z.number(),
  w: z.number(),
  h: z.number(),
});

/** `['data', 3, 'author_id']` → `data[3].author_id`; an empty path is the body itself: `$`. */
export function formatJsonPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'symbol') out += `[${String(key)}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key)) out += out === '' ? key : `.${key}`;
    else out += `[${JSON.stringify(key)}]`;
  }
  return out === '' ? '$' : out;
}

/** The parsed JSON, or undefined when `text` is not JSON (JSON itself has no undefined). */
export function parseJsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The body as `schema`'s type, or undefined when it is not JSON or not that shape (error bodies). */
export function safeParseJson<S extends z.ZodType>(
  schema: S,
  text: string,
): z.infer<S> | undefined {
  const json = parseJsonOrUndefined(text);
  if (json === undefined) return undefined;
  const result = schema.safeParse(json);
  return result.success ? result.data : undefined;
}

/** A `\u0000` escape not itself escaped (`\\u0000` is a backslash, then the text "u0000"). */
const NUL_ESCAPE = /(?<=(?:^|[^\\])(?:\\\\)*)\\u0000/g;

/**
 * JSON.parse that turns a syntax error into InvalidResponseError at path `$`. A NUL character
 * (`\u0000`) in a string becomes U+FFFD: Postgres text and jsonb cannot hold NUL, and one such
 * tweet would otherwise make its whole page unstorable, the account `failing`, every tweet on
 * the page lost. The raw body, kept as received, still has the original escape.
 */
export function parseJsonBody(provider: ProviderName, rawBody: string): unknown {
  try {
    return JSON.parse(
      rawBody.includes('\\u0000') ? rawBody.replace(NUL_ESCAPE, '\\ufffd') : rawBody,
    );
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new InvalidResponseError(provider, `${provider} response is not JSON at $: ${reason}`, {
      path: '$',
      rawBody,
      cause: error,
    });
  }
}

/** safeParse, and on failure throw InvalidResponseError naming the first bad field. */
export function validateBody<S extends z.ZodType>(
  provider: ProviderName,
  schema: S,
  value: unknown,
  rawBody: string,
  what: string,
): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue === undefined ? '$' : formatJsonPath(issue.path);
  const more = result.error.issues.length > 1 ? ` (+${result.error.issues.length - 1} more)` : '';
  throw new InvalidResponseError(
    provider,
    `invalid ${what} at ${path}: ${issue?.message ?? 'does not match the schema'}${more}`,
    { path, rawBody, cause: result.error },
  );
}

const ISO_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?/;

/** An ISO 8601 date `Date.parse` reads, on a real day and time. */
export function isIsoCalendarDate(value: string): boolean {
  if (Number.isNaN(Date.parse(value))) return false;
  const match = ISO_DATE_TIME.exec(value);
  if (match === null) return true; // another form Date.parse takes; nothing to roll over
  const [, year, month, day, hours, minutes, seconds] = match.map(Number);
  return isCalendarDate(
    year as number,
    month as number,
    day as number,
    Number.isNaN(hours) ? 0 : (hours as number),
    Number.isNaN(minutes) ? 0 : (minutes as number),
    Number.isNaN(seconds) ? 0 : (seconds as number),
  );
}
