import pino, { type Logger } from 'pino';

/**
 * Secrets never reach a log line: the clients keep tokens out of URLs and messages, and this
 * redaction is the second line, for any object that happens to carry one.
 */
export const REDACT_PATHS = [
  'bearerToken',
  'apiKey',
  'token',
  'authorization',
  '*.bearerToken',
  '*.apiKey',
  '*.token',
  '*.authorization',
  '*.headers.authorization',
  '*.headers.Authorization',
  'X_BEARER_TOKEN',
  'AGNTDATA_API_KEY',
  '*.X_BEARER_TOKEN',
  '*.AGNTDATA_API_KEY',
];

export function createLogger(name: string, level: string): Logger {
  return pino({
    name,
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
  });
}
