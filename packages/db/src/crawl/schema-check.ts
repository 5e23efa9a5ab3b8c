import { sql } from 'drizzle-orm';
import { type BirdfeedExecutor, rowsOf } from '../database.ts';

/** The tables the crawl commands read and write. */
export const CRAWL_TABLES: readonly string[] = [
  'watch_targets',
  'crawl_checkpoints',
  'crawl_runs',
  'crawl_failures',
  'crawl_gaps',
  'raw_pages',
  'provider_spend',
  'tweets',
];

/**
 * The tables of `tables` the database does not have (yet): a command checks this first and
 * tells the user to run `birdfeed migrate`, instead of failing on the first query.
 */
export async function missingTables(
  db: BirdfeedExecutor,
  tables: readonly string[] = CRAWL_TABLES,
): Promise<string[]> {
  if (tables.length === 0) return [];
  const rows = rowsOf<{ name: string }>(
    await db.execute(
      sql`SELECT name FROM (VALUES ${sql.join(
        tables.map((table) => sql`(${table})`),
        sql`, `,
      )}) AS wanted(name) WHERE to_regclass(name) IS NULL`,
    ),
  );
  return rows.map((row) => row.name);
}
