import type { ProviderName } from '@birdfeed/model';
import { RateLimitedError } from './errors.ts';
import type { RateLimitInfo } from './types.ts';

export type HeaderMap = Record<string, string | string[] | undefined>;

export function header(headers: HeaderMap, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

function integer(value: string | undefined): number | undefined {
  if (value === undefined || !/^\s*\d+\s*$/.test(value)) return undefined;
  const parsed = Number.parseInt(value, 10);
  // 400 digits parse to Infinity: not a number a header can mean.
  return Number.isSafeInteger(parsed) ? parsed : undefined;
}

/**
 * No reset is taken further away than this: the longest window a provider uses is X's 15
 * minutes, so a reset days or years ahead is a misread header (a unit we do not know), and
 * waiting for it would stop the crawl for that long — or, past setTimeout's 2^31 − 1 ms
 * (24.8 days), not at all: such a timer fires after 1 ms, and every 429 is asked again at once.
 */
export const MAX_RESET_AHEAD_MS = 60 * 60_000;

/** A reset as a valid Date no further than MAX_RESET_AHEAD_MS from now; undefined when invalid. */
function bounded(at: number, now: Date): Date | undefined {
  if (!Number.isFinite(at)) return undefined;
  return new Date(Math.min(at, now.getTime() + MAX_RESET_AHEAD_MS));
}

/**
 * The rate-limit window from the response headers. X sends `x-rate-limit-{limit,remaining,reset}`
 * (reset in epoch seconds, see the tweepy cassettes); agntdata's gateway may send the
 * `x-ratelimit-*` or IETF `ratelimit-*` spellings, where reset is seconds from now.
 */
export function readRateLimit(headers: HeaderMap, now: Date = new Date()): RateLimitInfo | null {
  for (const prefix of ['x-rate-limit-', 'x-ratelimit-', 'ratelimit-']) {
    const limit = integer(header(headers, `${prefix}limit`));
    const remaining = integer(header(headers, `${prefix}remaining`));
    const reset = integer(header(headers, `${prefix}reset`));
    if (limit === undefined || remaining === undefined || reset === undefined) continue;
    const resetAt = bounded(resetToDate(reset, now, clockOffsetMs(headers, now)), now);
    if (resetAt === undefined) continue;
    return { limit, remaining, resetAt };
  }
  return null;
}

/**
 * A reset value (epoch ms): above 10^11 an epoch in milliseconds (some gateways), above
 * ~2001-09-09 in seconds an epoch in seconds (X), below that a delay in seconds (IETF
 * `ratelimit-reset`). An epoch is the provider's clock: `offsetMs` turns it into this machine's.
 */
function resetToDate(reset: number, now: Date, offsetMs: number): number {
  if (reset > 100_000_000_000) return reset + offsetMs;
  return reset > 1_000_000_000 ? reset * 1000 + offsetMs : now.getTime() + reset * 1000;
}

/**
 * What turns the provider's clock into this machine's, from the response's `Date` header. The
 * header holds the provider's now truncated to the second, so the clocks are `ahead` apart at
 * most (this clock minus the header's time). Within a second of agreeing (plus a quarter second
 * of latency) the reset is taken as sent: at worst a hold ends up to a second early, which the
 * worker's reset margin partly covers. Further apart, the offset is `ahead` rounded up to whole
 * seconds: a hold ends at worst a second late, never early, and every response of a window
 * gives the same reset (the limiter window is stretched once per provider window). A worker
 * clock 30 s ahead of X's ended every window's hold 30 s early and spent the rest on 429s.
 * Past an hour apart the header is stale (a cached or replayed response), not a clock: 0.
 */
export function clockOffsetMs(headers: HeaderMap, now: Date): number {
  const date = Date.parse(header(headers, 'date') ?? '');
  if (Number.isNaN(date)) return 0;
  const ahead = now.getTime() - date;
  if (ahead >= -250 && ahead <= 1_250) return 0;
  return Math.abs(ahead) > MAX_CLOCK_OFFSET_MS ? 0 : Math.ceil(ahead / 1_000) * 1_000;
}

const MAX_CLOCK_OFFSET_MS = 60 * 60_000;

/**
 * How long a 429 whose window reset has already passed (clocks apart, a provider reopening
 * late) waits: long enough that the queue does not 429 again at once, short next to a window.
 */
export const PAST_RESET_WAIT_MS = 5_000;

/**
 * `Retry-After`: delay-seconds or an HTTP date (RFC 9110 §10.2.3), at most MAX_RESET_AHEAD_MS
 * away; undefined when it cannot be read (a number too long to be one included).
 */
export function readRetryAfter(headers: HeaderMap, now: Date = new Date()): Date | undefined {
  const value = header(headers, 'retry-after')?.trim();
  if (value === undefined || value === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return bounded(now.getTime() + Number(value) * 1000, now);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : bounded(date + clockOffsetMs(headers, now), now);
}

/**
 * When a 429 lifts: the window reset, else Retry-After, else the body's hint, else (a reset
 * already past) a few seconds, else a minute. Always a valid Date at most MAX_RESET_AHEAD_MS
 * away: a header or hint that cannot be read is skipped, one too far away is cut to that.
 */
export function rateLimitResetAt(
  headers: HeaderMap,
  bodyRetryAfterSeconds: number | undefined,
  now: Date = new Date(),
): Date {
  const window = readRateLimit(headers, now);
  if (window !== null && window.resetAt.getTime() > now.getTime()) return window.resetAt;
  const retryAfter = readRetryAfter(headers, now);
  if (retryAfter !== undefined) return retryAfter;
  const hinted =
    bodyRetryAfterSeconds === undefined || bodyRetryAfterSeconds < 0
      ? undefined
      : bounded(now.getTime() + bodyRetryAfterSeconds * 1000, now);
  if (hinted !== undefined) return hinted;
  if (window !== null) return new Date(now.getTime() + PAST_RESET_WAIT_MS);
  return new Date(now.getTime() + 60_000);
}

/** A 429: when it lifts (see rateLimitResetAt) and the window's numbers when the headers say. */
export function rateLimitedError(
  provider: ProviderName,
  message: string,
  response: { status: number; headers: HeaderMap },
  bodyRetryAfterSeconds: number | undefined,
  now?: Date,
): RateLimitedError {
  const window = readRateLimit(response.headers, now);
  return new RateLimitedError(provider, message, {
    status: response.status,
    resetAt: rateLimitResetAt(response.headers, bodyRetryAfterSeconds, now),
    limit: window?.limit,
    remaining: window?.remaining,
  });
}
