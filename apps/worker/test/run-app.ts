/**
 * Runs the worker or scheduler the way `bin/birdfeed.ts` does (import the command module, call
 * `main(argv)`, exit with its code), for tests that need a real child process to SIGKILL or
 * SIGTERM. bin/birdfeed.ts itself is not spawned: tsx 4.23 fails to parse a file that has both
 * a shebang line and a dynamic import.
 */
const modules: Record<string, string> = {
  worker: '../src/main.ts',
  scheduler: '../../scheduler/src/main.ts',
};
const [name, ...argv] = process.argv.slice(2);
const path = name === undefined ? undefined : modules[name];
if (path === undefined) throw new Error('usage: run-app.ts worker|scheduler [args…]');
const mod = (await import(new URL(path, import.meta.url).href)) as {
  main(args: string[]): Promise<number | undefined>;
};
process.exitCode = (await mod.main(argv)) ?? 0;
