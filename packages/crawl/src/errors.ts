import type { TargetKey } from '@birdfeed/db';
import { errorChain } from '@birdfeed/model';

/** The step was asked to crawl a (provider, user) that is not on the watchlist. */
export class TargetNotFoundError extends Error {
  override readonly name = 'TargetNotFoundError';
  readonly provider: string;
  readonly userId: string;
  constructor(key: TargetKey) {
    super(`no watch target ${key.provider}:${key.userId} (add it with \`birdfeed watchlist add\`)`);
    this.provider = key.provider;
    this.userId = key.userId;
  }
}

/** A client for one provider was handed a target of another. */
export class ProviderMismatchError extends Error {
  override readonly name = 'ProviderMismatchError';
}

/**
 * A page job names a crawl run that does not exist or belongs to another target: a job from
 * another birdfeed sharing the queue's Redis prefix (a second demo, a test) or a database reset
 * under a live queue. Retrying cannot make it match.
 */
export class RunMismatchError extends Error {
  override readonly name = 'RunMismatchError';
}

/**
 * Thrown inside the page transaction when the checkpoint moved since the step read it (another
 * execution of the same step won): rolls the page back so nothing is counted twice.
 */
export class StaleCheckpointError extends Error {
  override readonly name = 'StaleCheckpointError';
}

/**
 * A billed page (agntdata answered 2xx and charged for it) whose body broke off again at the
 * same window position, the previous break not followed by that page written fine: a body that
 * always breaks off (a gateway's response-size cap, a body too slow for the body timeout) would
 * otherwise be retried and bought again `attempts` times per run, every run. Not transient: the
 * worker fails the job at once (error-policy), crawlTargetToEnd does not retry it; the next run
 * asks once more, and the INVALID_PAGES_BEFORE_FAILING-th break in a row marks the target
 * 'failing'. `cause` is the provider's error, `status` its 2xx.
 */
export class BilledPageFailedError extends Error {
  override readonly name = 'BilledPageFailedError';
  readonly status: number | undefined;
  override readonly cause: unknown;
  constructor(message: string, options: { cause: unknown; status: number | undefined }) {
    super(message, { cause: options.cause });
    this.cause = options.cause;
    this.status = options.status;
  }
}

/**
 * Failures the step already wrote to crawl_failures (an invalid body, with its raw page), so
 * `recordJobFailure` completes that row instead of adding a second one for the same attempt.
 */
const recordedFailures = new WeakMap<object, string>();

export function markFailureRecorded(error: object, failureId: string): void {
  recordedFailures.set(error, failureId);
}

export function recordedFailureId(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null ? recordedFailures.get(error) : undefined;
}

/**
 * drizzle's "Failed query: <SQL> params: …" keeps the driver's reason only in `cause` (and a
 * failed rollback's replaces the statement's own): the reason first, then which statement.
 */
function withDriverReason(error: Error): string {
  if (!error.message.startsWith('Failed query:')) return error.message;
  const chain = errorChain(error);
  const reason = chain.length > 1 ? chain.at(-1)?.message : undefined;
  const statement = (error.message.split('\n')[0] ?? '').slice(0, 200);
  return reason === undefined ? error.message : `${reason} (${statement})`;
}

/** An error's message for a log line or a column, never longer than a screen. */
export function describeError(error: unknown): { name: string; message: string; status?: number } {
  if (error instanceof Error) {
    const status = (error as { status?: unknown }).status;
    return {
      name: error.name,
      message: withDriverReason(error).slice(0, 2000),
      ...(typeof status === 'number' ? { status } : {}),
    };
  }
  return { name: 'Error', message: String(error).slice(0, 2000) };
}
