import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type Database, DatabaseInUseError, openDatabase } from '@birdfeed/db';
import { redactUrl } from '@birdfeed/jobs';
import { type Env, parseEnv } from '../env.ts';

/** Where the embedded database lives when DATABASE_URL is unset (relative to the cwd). */
export const DEFAULT_PGLITE_DIR = join('.birdfeed', 'pgdata');

/**
 * `birdfeed demo` keeps PGlite open in its own process (`<home>/demo.lock` holds its pid) and
 * serves it over the wire protocol. A second process opening the same files would crash or
 * corrupt it, so commands refuse and say what to do instead.
 */
function refuseWhileDemoServes(dataDir: string): void {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(join(dirname(dataDir), 'demo.lock'), 'utf8'), 10);
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return;
  try {
    process.kill(pid, 0);
  } catch {
    return; // a demo that died left its lock behind
  }
  throw new DatabaseInUseError(dataDir, pid);
}

/**
 * DATABASE_URL when set, else PGlite under .birdfeed/pgdata (refused while a running demo
 * holds it). `description` names the target for output and errors without the password of the
 * URL. A DATABASE_URL that cannot be reached fails when opened, with a DatabaseConnectError
 * that bin/birdfeed.ts prints as one line.
 */
export function databaseOptions(env: Env): { url?: string; dataDir?: string; description: string } {
  if (env.DATABASE_URL !== undefined) {
    // Named by the variable too: an error about it should say which setting to fix.
    return {
      url: env.DATABASE_URL,
      description: `DATABASE_URL=${redactUrl(env.DATABASE_URL, 'DATABASE_URL')}`,
    };
  }
  refuseWhileDemoServes(DEFAULT_PGLITE_DIR);
  return { dataDir: DEFAULT_PGLITE_DIR, description: `PGlite at ${DEFAULT_PGLITE_DIR}` };
}

/**
 * Opens the database of a command that migrates or writes it as is (`migrate`, `ingest`). While
 * a running demo holds the embedded one, says so on stderr and gives exit code 1 instead.
 */
export async function openCommandDatabase(
  command: string,
): Promise<{ database: Database; description: string } | number> {
  try {
    const target = databaseOptions(parseEnv());
    return { database: await openDatabase(target), description: target.description };
  } catch (error) {
    if (error instanceof DatabaseInUseError) {
      process.stderr.write(`${command}: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

type CrawlDb = Awaited<ReturnType<typeof import('@birdfeed/crawl').openCrawlDatabase>>['db'];

/**
 * Runs a one-shot command's `body` on the crawl database (DATABASE_URL or the embedded one),
 * closed afterwards. A database that lacks a migration this code needs is one line naming the
 * command and what to run, exit 1. @birdfeed/crawl is loaded here, not by `migrate`/`ingest`.
 */
export async function withCrawlDatabase(
  command: string,
  env: Env,
  body: (db: CrawlDb) => Promise<number>,
): Promise<number> {
  const { MigrationsMissingError, openCrawlDatabase } = await import('@birdfeed/crawl');
  let database: Awaited<ReturnType<typeof openCrawlDatabase>>;
  try {
    database = await openCrawlDatabase(databaseOptions(env));
  } catch (error) {
    if (error instanceof MigrationsMissingError) {
      process.stderr.write(`${command}: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
  try {
    return await body(database.db);
  } finally {
    await database.close();
  }
}
