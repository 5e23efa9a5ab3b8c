import { CONNECTION_ERROR_CODES, errorChain } from '@birdfeed/model';

/**
 * A Redis outage, logged as one: ioredis reconnects every ~2 s, and each attempt raises an
 * error on the process's connection and on every BullMQ worker's own two (≈ 155 lines in 25 s
 * for a worker with two providers; an hour-long outage ≈ 9,000). Here the first error is
 * logged, then a reminder every few minutes with what was held back, then one line when
 * Redis answers again.
 */

export function isRedisConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && CONNECTION_ERROR_CODES.has(code)) return true;
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

/**
 * One outage of a service the process cannot work without (Redis, Postgres), logged as one: the
 * first connection error, then a reminder every few minutes with how many were held back, then
 * one line when the service answers again.
 */
export class OutageLog {
  private downSince: number | undefined;
  private lastLine = 0;
  private heldBack = 0;

  constructor(
    private readonly logger: OutageLogger,
    /** Names the service in the lines and the field that holds `target`. */
    private readonly service: 'redis' | 'postgres',
    /** Where it is, already without its password. */
    private readonly target: string,
    /** What the process does meanwhile, for the first line. */
    private readonly meanwhile: string,
    private readonly isConnectionError: (error: unknown) => boolean,
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
    if (!this.isConnectionError(error)) return false;
    const message = rootMessage(error);
    const now = this.now();
    if (this.downSince === undefined && this.connected()) return true;
    if (this.downSince === undefined) {
      this.downSince = now;
      this.lastLine = now;
      this.heldBack = 0;
      this.logger.error(
        { [this.service]: this.target, err: message },
        `${this.service} unreachable: ${this.meanwhile} (repeats of this error are counted, not logged)`,
      );
    } else if (now - this.lastLine >= this.reminderMs) {
      this.logger.error(
        {
          [this.service]: this.target,
          err: message,
          downForS: Math.round((now - this.downSince) / 1_000),
          errorsHeldBack: this.heldBack,
        },
        `${this.service} still unreachable`,
      );
      this.lastLine = now;
      this.heldBack = 0;
    } else {
      this.heldBack += 1;
    }
    return true;
  }

  /** The service answers again (a connection's 'ready', a statement that went through). */
  recovered(): void {
    if (this.downSince === undefined) return;
    this.logger.info(
      {
        [this.service]: this.target,
        downForS: Math.round((this.now() - this.downSince) / 1_000),
        errorsHeldBack: this.heldBack,
      },
      `${this.service} reachable again`,
    );
    this.downSince = undefined;
  }
}

/**
 * The driver's own words, not a wrapper's: drizzle's "Failed query: <the whole SQL> params: …"
 * buries the reason (ECONNREFUSED) under kilobytes of SQL.
 */
function rootMessage(error: unknown): string {
  return errorChain(error).at(-1)?.message ?? String(error);
}

export class RedisOutageLog extends OutageLog {
  constructor(
    logger: OutageLogger,
    /** Already without its password. */
    redis: string,
    connected: () => boolean = () => false,
    reminderMs = 5 * 60_000,
    now: () => number = Date.now,
  ) {
    super(
      logger,
      'redis',
      redis,
      'reconnecting; jobs wait in Redis until it is back',
      isRedisConnectionError,
      connected,
      reminderMs,
      now,
    );
    this.isUp = connected;
  }

  private readonly isUp: () => boolean;

  /**
   * For code that talks to Postgres as well as Redis (the scheduler's tick): node-postgres
   * raises the same ECONNREFUSED/ECONNRESET, so an error is taken for Redis's only while the
   * Redis connection is actually down; otherwise false, and the caller logs it.
   */
  reportIfDown(error: unknown): boolean {
    if (this.isUp()) return false;
    return this.report(error);
  }
}
