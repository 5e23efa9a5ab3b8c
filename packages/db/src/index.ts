export type {
  BirdfeedDb,
  BirdfeedExecutor,
  BirdfeedTx,
  Database,
  OpenDatabaseOptions,
  Schema,
} from './database.ts';
export { openDatabase, rowsOf } from './database.ts';
export type { MigrateOptions, MigrateResult } from './migrate.ts';
export { MIGRATIONS_FOLDER, MigrationLockedError, migrate } from './migrate.ts';
export * as schema from './schema/index.ts';
export * from './schema/index.ts';
