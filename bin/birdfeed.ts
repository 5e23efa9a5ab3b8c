/**
 * `pnpm birdfeed <command>`: one entry point for every process and tool. Each command lives
 * in its own module and is imported only when asked for, so `birdfeed migrate` does not load
 * BullMQ and `birdfeed sandbox` does not load drizzle.
 */
interface CommandModule {
  main(argv: string[]): Promise<number | undefined>;
}

const commands: Record<string, { path: string; summary: string }> = {
  migrate: { path: './commands/migrate.ts', summary: 'apply the SQL migrations to DATABASE_URL' },
  normalize: {
    path: './commands/normalize.ts',
    summary: 'print the canonical page of saved provider responses',
  },
  ingest: {
    path: './commands/ingest.ts',
    summary: 'normalize and upsert saved provider responses',
  },
  sandbox: { path: '../apps/sandbox/src/main.ts', summary: 'run the local provider emulator' },
  worker: { path: '../apps/worker/src/main.ts', summary: 'run BullMQ crawl workers' },
  scheduler: { path: '../apps/scheduler/src/main.ts', summary: 'enqueue due targets on a tick' },
  crawl: { path: './commands/crawl.ts', summary: 'crawl due targets once, in-process (--once)' },
  status: { path: './commands/status.ts', summary: 'checkpoints, runs, gaps and queue depths' },
  watchlist: { path: './commands/watchlist.ts', summary: 'add, list, enable and disable targets' },
  prune: {
    path: './commands/prune.ts',
    summary:
      'delete old raw bodies, runs, failures and superseded metrics history (--dry-run counts)',
  },
  demo: { path: './commands/demo.ts', summary: 'sandbox + database + crawl, with live progress' },
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((name) => name.length));
  const lines = Object.entries(commands).map(
    ([name, { summary }]) => `  ${name.padEnd(width)}  ${summary}`,
  );
  return `usage: birdfeed <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (command === undefined) {
    process.stderr.write(`birdfeed: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  // Node exits once nothing is left to wait for, even while the command is pending: one that
  // awaits a callback that can no longer come (a driver that failed before opening its socket)
  // ended with exit code 0 and no output, and a cron job recorded a success.
  const unfinished = () => {
    process.stderr.write(
      `birdfeed ${name}: internal error: the command did not finish (it was waiting for something that can no longer happen); this is a bug\n`,
    );
    process.exitCode = 1;
  };
  process.once('beforeExit', unfinished);
  try {
    const mod = (await import(new URL(command.path, import.meta.url).href)) as CommandModule;
    const code = await mod.main(rest);
    return typeof code === 'number' ? code : 0;
  } catch (error) {
    // Conditions of the user's setup, not bugs: one line naming the command, no stack.
    if (error instanceof Error && SETUP_ERRORS.has(error.name)) {
      process.stderr.write(`birdfeed ${name}: ${error.message}\n`);
      return 1;
    }
    throw error;
  } finally {
    process.off('beforeExit', unfinished);
  }
}

/** By name, so the dispatcher need not load the packages that define them. */
const SETUP_ERRORS = new Set([
  'DatabaseInUseError',
  'MigrationsMissingError',
  // Rows stored earlier that a new CHECK constraint refuses (packages/db, migrate).
  'MigrationFailedError',
  'EnvError',
  // A DATABASE_URL that cannot be reached or refuses us (packages/db, openDatabase).
  'DatabaseConnectError',
]);

/**
 * A bug's stack, then its causes: drizzle wraps a driver error in "Failed query: …" and keeps
 * the driver's words (the part that says what went wrong) only in `cause`, which a stack omits.
 */
function describeBug(error: unknown): string {
  const lines = [error instanceof Error ? (error.stack ?? error.message) : String(error)];
  let cause = error instanceof Error ? error.cause : undefined;
  for (let depth = 0; cause !== undefined && depth < 5; depth += 1) {
    lines.push(
      `caused by: ${cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause)}`,
    );
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return lines.join('\n');
}

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`birdfeed: ${describeBug(error)}\n`);
    process.exitCode = 1;
  },
);
