import type { ProviderName } from '@birdfeed/model';
import type { Redis } from 'ioredis';

/**
 * The cap on how often one page job may start, without counting the starts that only met a
 * held queue.
 *
 * Why not BullMQ's `maxStartedAttempts`: BullMQ counts every start in the job hash's `ats`
 * field (prepareJobForProcessing.lua), and putting a job back with `Worker.RateLimitError()`
 * (moveJobFromActiveToWait-9.lua) does not undo it. So a 429 that lasted about 40 short holds
 * (a provider answering `Retry-After: 1` for a minute) failed the page with BullMQ's bare "job
 * started more than allowable limit", although DESIGN.md says a 429 runs the same job again.
 *
 * What the cap is for is a page that keeps starting and never finishes: a crash loop, stalls
 * and failures together. A start put back by a hold (a 429, or a provider stopped for its
 * credential) is not that: the whole queue waits, and the job costs nothing while it does. So
 * the worker counts those starts here and holds the rest against the cap.
 *
 * The counts live as extra fields of BullMQ's own job hash (`<prefix>:<queue>:<jobId>`), so they
 * go when BullMQ removes the job (removeOnComplete/removeOnFail, clean, obliterate) and never
 * outlive it. BullMQ reads only the fields it knows and never rewrites the whole hash.
 */
const HELD = 'bf:held';
const RATE_LIMITED_IN_A_ROW = 'bf:429-in-a-row';
const LAST_ERROR = 'bf:last-error';
const LAST_STATUS = 'bf:last-status';

/** How much of an error's message is kept: enough to read, never a whole response body. */
const MAX_ERROR_CHARS = 500;

/**
 * Writes only to a job that still exists: a hash created under a removed job's id would make
 * BullMQ take a later add of that id (our ids are deterministic) for a duplicate and drop it.
 * ARGV: 1 = held increment (0/1), 2 = 429 (1) or another error (0), 3 = error text, 4 = status.
 */
const NOTE_START = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] == '1' then redis.call('HINCRBY', KEYS[1], '${HELD}', 1) end
if ARGV[2] == '1' then
  redis.call('HINCRBY', KEYS[1], '${RATE_LIMITED_IN_A_ROW}', 1)
else
  redis.call('HSET', KEYS[1], '${RATE_LIMITED_IN_A_ROW}', 0)
end
redis.call('HSET', KEYS[1], '${LAST_ERROR}', ARGV[3], '${LAST_STATUS}', ARGV[4])
return 1
`;

export interface StartRecord {
  /** Starts put back by a hold (a 429 or a stopped provider): not held against the cap. */
  held: number;
  /** 429s met in a row by the latest starts. */
  rateLimitedInARow: number;
  /** `Name: message` of the last error a start of this job met, if any. */
  lastError: string | null;
  lastStatus: number | null;
}

export interface StartOutcome {
  /** True: the job goes back to the queue because of a hold, not through a failed attempt. */
  held: boolean;
  error: Error;
}

function statusOf(error: Error): number | null {
  const status = (error as { status?: unknown }).status;
  return typeof status === 'number' ? status : null;
}

/** Records what one start of the job met. `jobKey` is `queue.toKey(jobId)`. */
export async function noteStart(redis: Redis, jobKey: string, outcome: StartOutcome) {
  const { error } = outcome;
  const text = `${error.name}: ${error.message}`.slice(0, MAX_ERROR_CHARS);
  await redis.eval(
    NOTE_START,
    1,
    jobKey,
    outcome.held ? '1' : '0',
    error.name === 'RateLimitedError' ? '1' : '0',
    text,
    String(statusOf(error) ?? ''),
  );
}

export async function readStartRecord(redis: Redis, jobKey: string): Promise<StartRecord> {
  const [held, inARow, lastError, lastStatus] = await redis.hmget(
    jobKey,
    HELD,
    RATE_LIMITED_IN_A_ROW,
    LAST_ERROR,
    LAST_STATUS,
  );
  const status = Number(lastStatus);
  return {
    held: Number(held ?? 0) || 0,
    rateLimitedInARow: Number(inARow ?? 0) || 0,
    lastError: lastError ?? null,
    lastStatus: lastStatus && Number.isInteger(status) ? status : null,
  };
}

/**
 * A page failed because it started more often than the cap allows. Carries the last provider
 * error's text and status, so crawl_failures says what the page kept meeting (a 503, a run of
 * 429s) rather than BullMQ's bare "started more than allowable limit".
 */
export class TooManyStartsError extends Error {
  override readonly name = 'TooManyStartsError';
  readonly provider: ProviderName;
  readonly starts: number;
  readonly status: number | undefined;

  constructor(provider: ProviderName, starts: number, maxStarts: number, record: StartRecord) {
    const held =
      record.held > 0
        ? ` (not counting ${record.held} re-runs after a 429 or a paused provider)`
        : '';
    let last = 'no error on record (the worker running it died or hung each time)';
    if (record.lastError !== null) {
      last =
        record.rateLimitedInARow > 1
          ? `rate limited by ${provider} ${record.rateLimitedInARow} times in a row, last: ${record.lastError}`
          : record.lastError;
    }
    super(
      `page started ${starts} times without finishing, more than the cap of ${maxStarts}${held}; last error: ${last}`,
    );
    this.provider = provider;
    this.starts = starts;
    this.status = record.lastStatus ?? undefined;
  }
}
