import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  CRAWL_TABLES,
  type Database,
  missingTables,
  type OpenDatabaseOptions,
  openDatabase,
  pendingMigrations,
} from '@birdfeed/db';

/** The database has no birdfeed tables (or only some): migrations were not applied. */
export class MigrationsMissingError extends Error {
  override readonly name = 'MigrationsMissingError';
  readonly missing: string[];
  /** Migrations (tags) not applied, when the tables exist but lag behind this code. */
  readonly pending: string[];
  constructor(missing: string[], description: string, pending: string[] = []) {
    const what =
      missing.length === CRAWL_TABLES.length
        ? 'birdfeed tables'
        : `${missing.join(', ')} table${missing.length === 1 ? '' : 's'}`;
    super(
      missing.length > 0
        ? `the database (${description}) has no ${what}: run \`pnpm birdfeed migrate\` first`
        : `the database (${description}) is behind this birdfeed: ${pending.join(', ')} not applied: run \`pnpm birdfeed migrate\` first`,
    );
    this.missing = missing;
    this.pending = pending;
  }
}

/**
 * Opens the database and checks the crawl tables are there. Commands do not migrate on their
 * own: applying schema changes is an explicit step (`birdfeed migrate`).
 */
export async function openCrawlDatabase(
  options: OpenDatabaseOptions & { description?: string | undefined },
): Promise<Database> {
  // An embedded database that was never created: opening it would create an empty one (a
  // stray .birdfeed/pgdata) only to say it has no tables.
  const dir = options.url === undefined ? options.dataDir : undefined;
  if (dir !== undefined && !dir.includes('://')) {
    if (!existsSync(join(dir, 'PG_VERSION'))) {
      throw new MigrationsMissingError([...CRAWL_TABLES], options.description ?? dir);
    }
  }
  const database = await openDatabase(options);
  try {
    const missing = await missingTables(database.db);
    if (missing.length > 0) {
      throw new MigrationsMissingError(missing, options.description ?? 'DATABASE_URL');
    }
    const pending = await pendingMigrations(database.db);
    if (pending.length > 0) {
      throw new MigrationsMissingError([], options.description ?? 'DATABASE_URL', pending);
    }
    return database;
  } catch (error) {
    await database.close();
    throw error;
  }
}
