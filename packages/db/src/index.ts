/** drizzle's `sql` tag, so callers build statements with the same drizzle this package uses. */
export { sql } from 'drizzle-orm';
export { isDatabaseConnectionError } from './connection-errors.ts';
// The crawl engineer's checkpoint/run/target queries (packages/db/src/crawl/).
export * from './crawl/index.ts';
export type {
  BirdfeedDb,
  BirdfeedExecutor,
  BirdfeedTx,
  Database,
  OpenDatabaseOptions,
  Schema,
} from './database.ts';
export { databaseAnswers, openDatabase, rowsOf } from './database.ts';
export type { MigrateOptions, MigrateResult } from './migrate.ts';
export {
  MIGRATIONS_FOLDER,
  MigrationFailedError,
  MigrationLockedError,
  migrate,
  pendingMigrations,
} from './migrate.ts';
export { DatabaseInUseError, lockDataDir } from './pglite-lock.ts';
export * as schema from './schema/index.ts';
export * from './schema/index.ts';
export { InvalidPageError, type PageRows, pageRows } from './upsert/page-rows.ts';
export { type RawPageInput, recordRawPage } from './upsert/raw-pages.ts';
export type { UpsertCounts, UpsertPageOptions, UpsertResult } from './upsert/upsert-page.ts';
export { emptyUpsertCounts, upsertPage } from './upsert/upsert-page.ts';
