import { MigrationsMissingError, openCrawlDatabase } from '@birdfeed/crawl';
import { type Database, isDatabaseConnectionError } from '@birdfeed/db';
import {
  createRedisConnection,
  OutageLog,
  type RedisConnectionOptions,
  RedisOutageLog,
  RedisPolicyError,
  RedisUnavailableError,
  redactRedisUrl,
  redactUrl,
  verifyRedis,
} from '@birdfeed/jobs';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

/**
 * The start-up of the long-running processes (`birdfeed worker`, `birdfeed scheduler`): what
 * makes one refuse to start, and how it says so. A refusal is expected (a wrong URL, a database
 * never migrated, an evicting Redis) and ends with exit code 1 and the reason, not a stack.
 */
export class ProcessStartError extends Error {
  override readonly name: string = 'ProcessStartError';
}

/**
 * Parses the arguments of `birdfeed <command>`: the parsed arguments, or the exit code when
 * there is nothing to run (`--help`: usage on stdout, 0; a bad argument: why and usage, 2).
 */
export function argsOrExitCode<Args extends object>(
  command: string,
  usage: string,
  parse: () => Args | 'help',
): Args | number {
  let args: Args | 'help';
  try {
    args = parse();
  } catch (error) {
    process.stderr.write(`birdfeed ${command}: ${(error as Error).message}\n\n${usage}`);
    return 2;
  }
  if (args === 'help') {
    process.stdout.write(usage);
    return 0;
  }
  return args;
}

/**
 * Runs `start`; a refusal (ProcessStartError or a Redis that is away or may evict) is logged and
 * written to stderr and gives exit code 1. Anything else is a bug and propagates.
 */
export async function startOrRefuse<Running extends object>(
  command: string,
  logger: Logger,
  start: () => Promise<Running>,
): Promise<Running | number> {
  try {
    return await start();
  } catch (error) {
    if (
      error instanceof ProcessStartError ||
      error instanceof RedisPolicyError ||
      error instanceof RedisUnavailableError
    ) {
      logger.fatal({ reason: error.message }, `${command} refused to start`);
      process.stderr.write(`birdfeed ${command}: refusing to start: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

/**
 * Opens Postgres and checks that it answers and has the birdfeed tables, so a wrong
 * DATABASE_URL or a database never migrated stops the start with the reason, not every job.
 */
export async function openCheckedDatabase(
  url: string,
  maxConnections: number,
  statementTimeoutMs?: number,
): Promise<Database> {
  // The password never reaches the message, wherever the URL carries it.
  const where = redactUrl(url, 'DATABASE_URL');
  try {
    return await openCrawlDatabase({ url, maxConnections, statementTimeoutMs, description: where });
  } catch (error) {
    if (error instanceof MigrationsMissingError) throw new ProcessStartError(error.message);
    // The driver's reason (no such database, refused, authentication) rather than a wrapper's.
    const reason =
      error instanceof Error && error.name === 'DatabaseConnectError'
        ? (error as Error & { reason: string }).reason
        : error instanceof Error
          ? error.message
          : String(error);
    throw new ProcessStartError(`cannot use the database at ${where}: ${reason}`);
  }
}

/**
 * Checks that Redis answers and never evicts, on a connection that fails fast, before anything
 * else; then opens the long-lived connection (named `birdfeed-<command>-<pid>` in CLIENT LIST).
 */
export async function connectCheckedRedis(options: {
  url: string;
  command: string;
  role: RedisConnectionOptions['role'];
  logger: Logger;
}): Promise<{ redis: Redis; outage: RedisOutageLog }> {
  const { url, logger } = options;
  const policy = await verifyRedis(url);
  logger.info({ redis: redactRedisUrl(url), maxmemoryPolicy: policy }, 'redis eviction policy ok');
  let redis: Redis | undefined;
  const outage = new RedisOutageLog(logger, redactRedisUrl(url), () => redis?.status === 'ready');
  redis = createRedisConnection({
    url,
    role: options.role,
    connectionName: `birdfeed-${options.command}-${process.pid}`,
    onError: (error) => {
      if (!outage.report(error)) logger.warn({ err: error.message }, 'redis connection error');
    },
  });
  redis.on('ready', () => outage.recovered());
  return { redis, outage };
}

/** quit() waits for a connection that is not there; disconnect() does not. */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect());
  else redis.disconnect();
}

/** Every close step has run; this reports the ones that failed, together, instead of the first. */
export function throwIfAnyRejected(
  results: PromiseSettledResult<unknown>[],
  message: string,
): void {
  const errors = results
    .filter((result): result is PromiseRejectedResult => result.status === 'rejected')
    .map((result) => result.reason as unknown);
  if (errors.length > 0) throw new AggregateError(errors, message);
}

/**
 * Postgres away (a restart, a failover), logged as one outage: the first error with the
 * driver's reason and where (DATABASE_URL without its password), a reminder every 5 minutes,
 * one line when a statement goes through again.
 */
export function databaseOutageLog(logger: Logger, url: string, meanwhile: string): OutageLog {
  return new OutageLog(
    logger,
    'postgres',
    redactUrl(url, 'DATABASE_URL'),
    meanwhile,
    isDatabaseConnectionError,
  );
}
