/**
 * A Redis outage, logged as one: ioredis reconnects every ~2 s, and each attempt raises an
 * error on the process's connection and on every BullMQ worker's own two (≈ 155 lines in 25 s
 * for a worker with two providers; an hour-long outage ≈ 9,000). Here the first error is
 * logged, then a reminder every few minutes with what was held back, then one line when
 * Redis answers again.
 */

/** What a lost or refused Redis connection raises (ioredis, BullMQ, Node's net). */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);

export function isRedisConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
  if (error.name === 'MaxRetriesPerRequestError') return true;
  return /Connection is closed|connect E[A-Z]+|read E[A-Z]+|write E[A-Z]+|Stream isn't writeable/.test(
    error.message,
  );
}

/** The part of a pino logger this needs. */
export interface OutageLogger {
  error(fields: object, message: string): void;
  info(fields: object, message: string): void;
}

export class RedisOutageLog {
  private downSince: number | undefined;
  private lastLine = 0;
  private heldBack = 0;

  constructor(
    private readonly logger: OutageLogger,
    /** Already without its password. */
    private readonly redis: string,
    /**
     * Whether the process's own connection is up: a BullMQ worker's second connection may
     * still fail one attempt after the first is back, which is no outage.
     */
    private readonly connected: () => boolean = () => false,
    private readonly reminderMs = 5 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  get down(): boolean {
    return this.downSince !== undefined;
  }

  /** Logs (or counts) a connection error; false for any other error, which the caller logs. */
  report(error: unknown): boolean {
    if (!isRedisConnectionError(error)) return false;
    const message = (error as Error).message;
    const now = this.now();
    if (this.downSince === undefined && this.connected()) return true;
    if (this.downSince === undefined) {
      this.downSince = now;
      this.lastLine = now;
      this.heldBack = 0;
      this.logger.error(
        { redis: this.redis, err: message },
        'redis unreachable: reconnecting; jobs wait in Redis until it is back (repeats of this error are counted, not logged)',
      );
    } else if (now - this.lastLine >= this.reminderMs) {
      this.logger.error(
        {
          redis: this.redis,
          err: message,
          downForS: Math.round((now - this.downSince) / 1_000),
          errorsHeldBack: this.heldBack,
        },
        'redis still unreachable',
      );
      this.lastLine = now;
      this.heldBack = 0;
    } else {
      this.heldBack += 1;
    }
    return true;
  }

  /**
   * For code that talks to Postgres as well as Redis (the scheduler's tick): node-postgres
   * raises the same ECONNREFUSED/ECONNRESET, so an error is taken for Redis's only while the
   * Redis connection is actually down; otherwise false, and the caller logs it.
   */
  reportIfDown(error: unknown): boolean {
    if (this.connected()) return false;
    return this.report(error);
  }

  /** Redis answers again (the connection's 'ready'). */
  recovered(): void {
    if (this.downSince === undefined) return;
    this.logger.info(
      {
        redis: this.redis,
        downForS: Math.round((this.now() - this.downSince) / 1_000),
        errorsHeldBack: this.heldBack,
      },
      'redis reachable again',
    );
    this.downSince = undefined;
  }
}
