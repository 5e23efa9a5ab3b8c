import { CONNECTION_ERROR_CODES } from '@birdfeed/model';

/**
 * SQLSTATEs of a server that is not there to answer: connection exceptions (08…), a shutdown
 * or restart (57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now) and no
 * free connection slot (53300).
 */
function isUnavailableState(code: string): boolean {
  return (
    code.startsWith('08') ||
    code === '57P01' ||
    code === '57P02' ||
    code === '57P03' ||
    code === '53300'
  );
}

const CONNECTION_MESSAGES =
  /Connection terminated|connection timeout|Client has encountered a connection error|Client was closed and is not queryable|the database system is (starting up|shutting down|in recovery mode)/i;

/**
 * True when `error` (or what it wraps: drizzle puts the driver's error in `cause`) says
 * Postgres cannot be reached, not that a statement was wrong. The callers hold their work until
 * it is back instead of spending retries on it. Only for errors of database calls: a provider's
 * network error has the same codes.
 */
export function isDatabaseConnectionError(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (
      typeof code === 'string' &&
      (CONNECTION_ERROR_CODES.has(code) || isUnavailableState(code))
    ) {
      return true;
    }
    const cause = (current as { cause?: unknown }).cause;
    // The driver's own message only: a wrapper's (drizzle's "Failed query: … params: …") quotes
    // the statement's values, and a tweet may well say "Connection terminated".
    if (!(cause instanceof Error) && CONNECTION_MESSAGES.test(current.message)) return true;
    current = cause;
  }
  return false;
}
