import { pathToFileURL } from 'node:url';

/**
 * How the demo starts its scheduler and workers: `node --import tsx child-entry.ts <cli> <command>
 * [args]` runs the birdfeed CLI (`<cli>`, normally bin/birdfeed.ts) in this process exactly as
 * `pnpm birdfeed <command>` would, plus a guard: when the demo that started us is gone (killed
 * with SIGKILL, or crashed before it could stop us), this process is re-parented, notices it
 * within a second and stops itself as on Ctrl-C (SIGTERM: finish the page in flight, exit).
 * Without it an orphaned worker would keep taking jobs for a sandbox that no longer exists.
 */
const [cli, ...args] = process.argv.slice(2);
if (cli === undefined) {
  process.stderr.write('usage: child-entry.ts <birdfeed cli> <command> [args]\n');
  process.exit(2);
}
// From the demo itself: read here, the parent could already be gone (killed while this process
// was still starting) and process.ppid would be init's.
const parent = Number(process.env.BIRDFEED_DEMO_PARENT_PID ?? process.ppid);
const guard = setInterval(() => {
  if (process.ppid === parent) return;
  clearInterval(guard);
  process.stderr.write('the demo that started this process is gone: stopping\n');
  process.kill(process.pid, 'SIGTERM');
  // The sandbox (and PGlite) lived in the demo: a page in flight cannot finish, so do not wait
  // long for it. A page cut short is safe: its job is taken again after its lock expires.
  setTimeout(() => process.exit(1), 5_000).unref();
}, 1000);
guard.unref();
process.argv = [process.argv[0] as string, cli, ...args];
await import(pathToFileURL(cli).href);
