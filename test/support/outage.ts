import { isDatabaseConnectionError } from '@birdfeed/db';
import { OutageLog } from '@birdfeed/jobs';
import pino from 'pino';

/** A Postgres OutageLog whose lines the test reads (as parsed JSON records). */
export function capturedDatabaseOutage(meanwhile: string) {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  const databaseOutage = new OutageLog(
    logger,
    'postgres',
    'postgres://127.0.0.1/test',
    meanwhile,
    isDatabaseConnectionError,
  );
  return { databaseOutage, lines };
}
