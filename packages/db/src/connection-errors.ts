import { CONNECTION_ERROR_CODES, errorChain } from '@birdfeed/model';

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
  const chain = errorChain(error);
  const coded = chain.some((at) => {
    const code = (at as { code?: unknown }).code;
    return (
      typeof code === 'string' && (CONNECTION_ERROR_CODES.has(code) || isUnavailableState(code))
    );
  });
  // The driver's own message only: a wrapper's (drizzle's "Failed query: … params: …") quotes
  // the statement's values, and a tweet may well say "Connection terminated".
  const driver = chain.at(-1);
  return (
    coded ||
    (driver !== undefined &&
      !(driver.cause instanceof Error) &&
      CONNECTION_MESSAGES.test(driver.message))
  );
}
