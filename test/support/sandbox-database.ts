import { type Database, migrate, openDatabase } from '@birdfeed/db';
import { createAgntdataClient, type TimelineClient } from '@birdfeed/providers';
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
  /** An agntdata client of the sandbox (pages of 20), closed with the rest. */
  agntdata: TimelineClient;
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
  const agntdata = createAgntdataClient({
    baseUrl: running.url,
    apiKey: running.agntdataApiKeys[0] ?? 'sandbox-agntdata-key',
    limit: 20,
  });
  return {
    testDb,
    database,
    sandbox: running,
    agntdata,
    close: async () => {
      await agntdata.close();
      await running.stop();
      await database.close();
      await testDb.drop();
    },
  };
}
