import { MigrationFailedError, MigrationLockedError, migrate } from '@birdfeed/db';
import { parseCommandArgs } from './command-args.ts';
import { openCommandDatabase } from './database-options.ts';

const USAGE = `usage: birdfeed migrate [--no-wait]

Applies the SQL migrations in migrations/ to DATABASE_URL (or the embedded PGlite database
under .birdfeed/pgdata when DATABASE_URL is unset). Safe to run twice. When another migrate is
running it waits for it, or with --no-wait exits 3 at once.
`;

export async function main(argv: string[]): Promise<number> {
  let values: { 'no-wait'?: boolean; help?: boolean };
  try {
    values = parseCommandArgs({
      args: argv,
      options: {
        'no-wait': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: false,
    }).values;
  } catch (error) {
    process.stderr.write(
      `migrate: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`,
    );
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  const opened = await openCommandDatabase('migrate');
  if (typeof opened === 'number') return opened;
  const { database, description } = opened;
  try {
    const result = await migrate(database.db, {
      wait: !values['no-wait'],
      onWait: () => process.stderr.write('migrate: another migration is running; waiting for it\n'),
    });
    for (const tag of result.applied) process.stdout.write(`applied ${tag}\n`);
    process.stdout.write(
      `migrate: ${result.applied.length} applied, ${result.alreadyApplied} already applied (${description})\n`,
    );
    return 0;
  } catch (error) {
    if (error instanceof MigrationLockedError) {
      process.stderr.write(`migrate: ${error.message}\n`);
      return 3;
    }
    if (error instanceof MigrationFailedError) {
      process.stderr.write(`migrate: ${error.message}\n`);
      return 1;
    }
    throw error;
  } finally {
    await database.close();
  }
}
