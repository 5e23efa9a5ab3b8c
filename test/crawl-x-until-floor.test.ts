import { crawlPage, crawlTargetToEnd } from '@birdfeed/crawl';
import { getCheckpoint, listGaps, upsertTarget } from '@birdfeed/db';
import { createXClient } from '@birdfeed/providers';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSandboxDatabase, type SandboxDatabase } from './support/sandbox-database.ts';

/*
 * Over HTTP: an incremental X window reads 4 pages, its token expires, and the account posts
 * exactly enough that the bound (the oldest tweet read) is still among the newest `cap` while
 * everything below it is not. The request below until_id answers result_count 0 with no
 * next_token and no includes, so no tweet_count shows the posting: trusting it would end the
 * window and move since_id past tweets never read, with no gap. The window restarts from its
 * top instead, reads the cap, and records the x_timeline_cap gap.
 */

const EPOCH = Date.UTC(2026, 5, 1, 12, 0, 0);
const CAP = 100;
const PAGE = 20;

let env: SandboxDatabase;
let pool: pg.Pool;

beforeAll(async () => {
  env = await openSandboxDatabase('x_until_floor', {
    epochMs: EPOCH,
    xRateLimit: 100_000,
    accounts: 1,
    tweetsPerAccount: 150,
    activity: 'steady',
    cursorTtlMs: 60_000,
    shortPageRate: 0,
    emptyPageRate: 0,
    xTimelineCap: CAP,
  });
  pool = new pg.Pool({ connectionString: env.testDb.url, max: 2 });
  pool.on('error', () => {});
});

afterAll(async () => {
  await pool?.end();
  await env?.close();
});

describe('a resumed X window whose remainder fell below the floor', () => {
  it('records a gap for what it could not read', async () => {
    const sandbox = env.sandbox;
    const db = env.database.db;
    const x = createXClient({ baseUrl: sandbox.url, bearerToken: 'sandbox-x-token' });
    try {
      const userId = sandbox.accounts()[0]?.id as string;
      const target = { provider: 'x', userId } as const;
      const before = sandbox.truth(userId).tweets;
      const sinceId = before[90]?.id as string; // 90 tweets above the checkpoint
      await upsertTarget(db, target);
      await pool.query(
        `INSERT INTO crawl_checkpoints (provider, user_id, since_id, backfill_done) VALUES ('x', $1, $2, true)`,
        [userId, sinceId],
      );
      let runId: string | null = null;
      for (let i = 0; i < 4; i++) {
        const step = await crawlPage({
          db,
          client: x,
          target,
          runId,
          pageSize: PAGE,
          timelineCap: CAP,
        });
        expect(step.outcome).toBe('page');
        runId = step.runId;
      }
      const cp = await getCheckpoint(db, target);
      expect(cp?.windowOldestId).toBe(before[79]?.id);
      // Exactly 20 posted: before[79] is the 100th newest, before[80..89] are out of reach.
      while (sandbox.truth(userId).tweets.length - before.length < 20)
        sandbox.clock.advance(60_000);
      expect(sandbox.truth(userId).tweets.length - before.length).toBe(20);

      const rest = await crawlTargetToEnd({
        db,
        client: x,
        target,
        pageSize: PAGE,
        timelineCap: CAP,
      });
      expect(rest.outcome).toBe('succeeded');
      const stored = new Set(
        (
          await pool.query<{ id: string }>(
            'SELECT id::text AS id FROM tweets WHERE author_id = $1',
            [userId],
          )
        ).rows.map((r) => r.id),
      );
      const unread = before
        .slice(80, 90)
        .map((t) => t.id)
        .filter((id) => !stored.has(id));
      expect(unread).toHaveLength(10);
      expect((await getCheckpoint(db, target))?.sinceId).not.toBe(sinceId);
      // Each unread tweet must lie in a recorded gap.
      const gaps = await listGaps(db, target);
      const covered = (id: string) =>
        gaps.some(
          (g) =>
            (g.sinceId === null || BigInt(id) > BigInt(g.sinceId)) &&
            (g.oldestId === null || BigInt(id) < BigInt(g.oldestId)),
        );
      expect(unread.filter((id) => !covered(id))).toEqual([]);
    } finally {
      await x.close();
    }
  });
});
