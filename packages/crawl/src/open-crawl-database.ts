import {
  CRAWL_TABLES,
  type Database,
  missingTables,
  type OpenDatabaseOptions,
  openDatabase,
} from '@birdfeed/db';

/** The database has no birdfeed tables (or only some): migrations were not applied. */
export class MigrationsMissingError extends Error {
  override readonly name = 'MigrationsMissingError';
  readonly missing: string[];
  constructor(missing: string[], description: string) {
    const what =
      missing.length === CRAWL_TABLES.length
        ? 'birdfeed tables'
        : `${missing.join(', ')} table${missing.length === 1 ? '' : 's'}`;
    super(`the database (${description}) has no ${what}: run \`pnpm birdfeed migrate\` first`);
    this.missing = missing;
  }
}

/**
 * Opens the database and checks the crawl tables are there. Commands do not migrate on their
 * own: applying schema changes is an explicit step (`birdfeed migrate`).
 */
export async function openCrawlDatabase(
  options: OpenDatabaseOptions & { description?: string | undefined },
): Promise<Database> {
  const database = await openDatabase(options);
  try {
    const missing = await missingTables(database.db);
    if (missing.length > 0) {
      throw new MigrationsMissingError(missing, options.description ?? 'DATABASE_URL');
    }
    return database;
  } catch (error) {
    await database.close();
    throw error;
  }
}
