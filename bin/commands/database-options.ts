import { join } from 'node:path';
import type { Env } from '../env.ts';

/** Where the embedded database lives when DATABASE_URL is unset (relative to the cwd). */
export const DEFAULT_PGLITE_DIR = join('.birdfeed', 'pgdata');

/**
 * DATABASE_URL when set, else PGlite under .birdfeed/pgdata. `description` names the target
 * for output without the password of the URL.
 */
export function databaseOptions(env: Env): { url?: string; dataDir?: string; description: string } {
  if (env.DATABASE_URL !== undefined) {
    const url = new URL(env.DATABASE_URL);
    if (url.password !== '') url.password = '***';
    return { url: env.DATABASE_URL, description: url.toString() };
  }
  return { dataDir: DEFAULT_PGLITE_DIR, description: `PGlite at ${DEFAULT_PGLITE_DIR}` };
}
