import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDatabase } from './database.ts';
import { DatabaseInUseError } from './pglite-lock.ts';

describe('the PGlite data directory lock', () => {
  it('refuses a directory another live process holds, takes over a dead one, releases on close', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'bf-lock-')), 'pgdata');
    const lock = `${dataDir}.lock`;

    // A live process that is not us: our parent.
    writeFileSync(lock, `${process.ppid}\n`);
    await expect(openDatabase({ dataDir })).rejects.toBeInstanceOf(DatabaseInUseError);
    await expect(openDatabase({ dataDir })).rejects.toThrow(`pid ${process.ppid}`);

    // A process that has exited: its lock is stale.
    const gone = spawnSync(process.execPath, ['-e', '0']).pid;
    writeFileSync(lock, `${gone}\n`);
    const database = await openDatabase({ dataDir });
    expect(readFileSync(lock, 'utf8').trim()).toBe(String(process.pid));
    await database.close();
    expect(existsSync(lock)).toBe(false);
  });
});
