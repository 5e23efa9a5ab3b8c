import { redactPaths } from '@birdfeed/providers';
import { type DestinationStream, type Logger, pino } from 'pino';
import { SECRET_ENV_NAMES } from './env.ts';

/**
 * Secrets never reach a log line: the clients keep tokens out of URLs and messages, and this
 * redaction is the second line, for any object that happens to carry one (request options,
 * headers, or the parsed environment).
 */
export const REDACT_PATHS: readonly string[] = [
  ...new Set([...redactPaths, ...SECRET_ENV_NAMES.flatMap((name) => [name, `*.${name}`])]),
];

/** The one pino logger of the processes and commands; `destination` defaults to stdout. */
export function createLogger(name: string, level: string, destination?: DestinationStream): Logger {
  const options = {
    name,
    level,
    redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
    base: { pid: process.pid },
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}
