import { type Database, migrate, openDatabase } from '@birdfeed/db';
import {
  type RunningSandbox,
  type SandboxOptions,
  startSandbox,
} from '../../apps/sandbox/src/index.ts';
import { createTestDatabase, type TestDatabase } from './postgres.ts';

/** A migrated test database beside a frozen sandbox: the setup of the crawl-step tests. */
export interface SandboxDatabase {
  testDb: TestDatabase;
  database: Database;
  sandbox: RunningSandbox;
  close(): Promise<void>;
}

/**
 * Opens both. The sandbox is frozen (no new posts unless a test says so), has no special
 * accounts and no agntdata rate limit worth meeting, unless `sandbox` says otherwise.
 */
export async function openSandboxDatabase(
  name: string,
  sandbox: SandboxOptions,
): Promise<SandboxDatabase> {
  const testDb = await createTestDatabase(name);
  const database = await openDatabase({ url: testDb.url });
  await migrate(database.db);
  const running = await startSandbox({
    port: 0,
    frozen: true,
    specialAccounts: false,
    agntdataRequestsPerMinute: 100_000,
    ...sandbox,
  });
  return {
    testDb,
    database,
    sandbox: running,
    close: async () => {
      await running.stop();
      await database.close();
      await testDb.drop();
    },
  };
}
