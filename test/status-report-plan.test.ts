import { type Database, migrate, openDatabase, rowsOf, sql, statusReport } from '@birdfeed/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statusTargetsQuery } from '../packages/db/src/crawl/status-report.ts';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';

/**
 * `birdfeed status` on a long crawl history: the per-target "latest run / failure / gap"
 * lookups must go through the per-target indexes. Ordered by id, Postgres walked the primary key
 * backwards and filtered the rows of every busier target (6.3 s at 1.75M runs). The shape that
 * triggers it is small enough for a test: a few targets holding most of the runs, the others
 * with only old ones; the planner picks the primary key from a few thousand rows on.
 */

let testDb: TestDatabase;
let database: Database;

const TARGETS = 20;
const BUSY_TARGETS = 2;

beforeAll(async () => {
  testDb = await createTestDatabase('status_plan');
  database = await openDatabase({ url: testDb.url, maxConnections: 2 });
  await migrate(database.db);
  const db = database.db;
  await db.execute(sql`INSERT INTO watch_targets (provider, user_id, username)
    SELECT 'x', g, 'user' || g FROM generate_series(1, ${TARGETS}) g`);
  for (const table of ['crawl_runs', 'crawl_failures'] as const) {
    const insert =
      table === 'crawl_runs'
        ? (users: number, count: number, from: string) =>
            sql`INSERT INTO crawl_runs (provider, user_id, kind, started_at, outcome)
              SELECT 'x', 1 + g % ${users}, 'incremental',
                ${from}::timestamptz + g * interval '1 second', 'succeeded'
              FROM generate_series(1, ${count}) g`
        : (users: number, count: number, from: string) =>
            sql`INSERT INTO crawl_failures (provider, user_id, error_name, error_message, failed_at)
              SELECT 'x', 1 + g % ${users}, 'ProviderServerError', 'HTTP 503',
                ${from}::timestamptz + g * interval '1 second'
              FROM generate_series(1, ${count}) g`;
    // Old rows for every target, then many newer ones for the busy few.
    await db.execute(insert(TARGETS, 200, '2025-01-01T00:00:00Z'));
    await db.execute(insert(BUSY_TARGETS, 6000, '2025-06-01T00:00:00Z'));
  }
  await db.execute(sql`INSERT INTO crawl_gaps (provider, user_id, reason, detected_at)
    SELECT 'x', 1 + g % ${TARGETS}, 'x_3200_cap', '2025-01-01T00:00:00Z'::timestamptz + g * interval '1 hour'
    FROM generate_series(1, 100) g`);
  // The plan depends on statistics; autovacuum may not have run yet.
  await db.execute(sql`ANALYZE watch_targets, crawl_runs, crawl_failures, crawl_gaps`);
});

afterAll(async () => {
  await database?.close();
  await testDb?.drop();
});

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

function planNodes(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(planNodes)];
}

describe('status report on a long crawl history', () => {
  it('reads the latest run and failure through the per-target indexes, never the primary keys', async () => {
    const [row] = rowsOf<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(
      await database.db.execute(sql`EXPLAIN (FORMAT JSON) ${statusTargetsQuery()}`),
    );
    const plan = row?.['QUERY PLAN'][0]?.Plan;
    expect(plan).toBeDefined();
    const nodes = planNodes(plan as PlanNode);
    const indexes = nodes.flatMap((node) => node['Index Name'] ?? []);
    const shown = JSON.stringify(
      nodes.map((node) => [node['Node Type'], node['Relation Name'], node['Index Name']]),
    );
    expect(indexes, shown).toContain('crawl_runs_provider_user_started_idx');
    expect(indexes, shown).toContain('crawl_failures_provider_user_idx');
    for (const pkey of ['crawl_runs_pkey', 'crawl_failures_pkey', 'crawl_gaps_pkey']) {
      expect(indexes, shown).not.toContain(pkey);
    }
    const seqScans = nodes
      .filter((node) => node['Node Type'] === 'Seq Scan')
      .map((node) => node['Relation Name']);
    expect(seqScans, shown).not.toContain('crawl_runs');
    expect(seqScans, shown).not.toContain('crawl_failures');
  });

  it('still shows the newest run, failure and gap of a quiet target and of a busy one', async () => {
    // Same started_at twice: the higher id (inserted later) is the last run.
    await database.db.execute(sql`INSERT INTO crawl_runs (provider, user_id, kind, started_at, outcome)
      VALUES ('x', 7, 'incremental', '2025-03-01T00:00:00Z', 'failed'),
             ('x', 7, 'backfill', '2025-03-01T00:00:00Z', 'succeeded')`);
    const report = await statusReport(database.db, { now: new Date('2026-01-01T00:00:00Z') });
    const quiet = report.targets.find((target) => target.userId === '7');
    const busy = report.targets.find((target) => target.userId === '2');
    expect(quiet?.lastRun).toMatchObject({
      kind: 'backfill',
      outcome: 'succeeded',
      startedAt: new Date('2025-03-01T00:00:00Z'),
    });
    expect(typeof quiet?.lastRun?.id).toBe('string');
    expect(quiet?.failures).toMatchObject({ total: 10, last24h: 0 });
    // The quiet target's newest failure is the 200-row batch's last one for user 7 (g = 186).
    expect(quiet?.failures.last?.failedAt).toEqual(new Date(Date.UTC(2025, 0, 1) + 186_000));
    expect(quiet?.gaps.count).toBe(5);
    expect(quiet?.gaps.last?.detectedAt).toEqual(new Date(Date.UTC(2025, 0, 1) + 86 * 3_600_000));
    // User 2 takes odd g (1 + g % 2 = 2) of the 6,000 busy rows: the newest is g = 5999.
    expect(busy?.lastRun?.startedAt).toEqual(new Date(Date.UTC(2025, 5, 1) + 5999_000));
    expect(busy?.failures.total).toBe(10 + 3000);
  });
});
