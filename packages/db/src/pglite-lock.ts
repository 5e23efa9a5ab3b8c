import { readFileSync, rmSync, writeFileSync } from 'node:fs';

/** Another process has the PGlite data directory open. */
export class DatabaseInUseError extends Error {
  override readonly name = 'DatabaseInUseError';
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(
      `the PGlite database at ${dataDir} is open in another process (pid ${pid}); PGlite allows one process at a time: stop it, or point DATABASE_URL at a Postgres server`,
    );
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes `<dataDir>.lock` (our pid) for as long as this process has the directory open.
 * PGlite itself takes no lock, and two processes on one directory crash or corrupt it
 * (measured: the first process aborted in WebAssembly when a second opened the directory).
 * A lock left by a process that died is taken over; one held by this very process is shared.
 * Returns the release function.
 */
export function lockDataDir(dataDir: string): () => void {
  const path = `${dataDir}.lock`;
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: 'wx' });
      return () => rmSync(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const pid = Number.parseInt(readFileSync(path, 'utf8'), 10);
    if (pid === process.pid) return () => {};
    if (Number.isInteger(pid) && pid > 0 && isAlive(pid))
      throw new DatabaseInUseError(dataDir, pid);
    rmSync(path, { force: true });
  }
  throw new DatabaseInUseError(dataDir, Number.NaN);
}
