import { crawlPage, crawlTargetToEnd } from '@birdfeed/crawl';
import {
  type BirdfeedDb,
  getCheckpoint,
  getRun,
  listGaps,
  openDatabase,
  statusReport,
  upsertTarget,
} from '@birdfeed/db';
import { createXClient, type TimelineClient } from '@birdfeed/providers';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningSandbox, SandboxOptions, Truth } from '../apps/sandbox/src/index.ts';
import { databaseSnapshot, truthSnapshot } from './support/crawl-truth.ts';
import { openSandboxDatabase, type SandboxDatabase } from './support/sandbox-database.ts';

/*
 * An X pagination token that expires mid-window (the sandbox's cursorTtlMs, then the clock moved
 * past it) does not send the window back to its top: X takes until_id, and the pages a window
 * has read are contiguous newest first, so the rest is asked for strictly below the oldest tweet
 * read, the saved bound on every later page. Counted against the sandbox's request log: the
 * window costs its pages plus the one rejected request, and the database ends equal to the
 * sandbox's truth.
 */

const EPOCH = Date.UTC(2026, 5, 1, 12, 0, 0);
const CURSOR_TTL_MS = 60_000;
const PAGE_SIZE = 20;

interface Harness {
  env: SandboxDatabase;
  sandbox: RunningSandbox;
  db: BirdfeedDb;
  pool: pg.Pool;
  x: TimelineClient;
  close(): Promise<void>;
}

async function harness(label: string, options: SandboxOptions): Promise<Harness> {
  const env = await openSandboxDatabase(label, {
    epochMs: EPOCH,
    xRateLimit: 100_000,
    activity: 'silent',
    cursorTtlMs: CURSOR_TTL_MS,
    shortPageRate: 0,
    emptyPageRate: 0,
    ...options,
  });
  const pool = new pg.Pool({ connectionString: env.testDb.url, max: 2 });
  // Dropping the database at the end terminates idle clients; that is expected.
  pool.on('error', () => {});
  const x = createXClient({ baseUrl: env.sandbox.url, bearerToken: 'sandbox-x-token' });
  return {
    env,
    sandbox: env.sandbox,
    db: env.database.db,
    pool,
    x,
    async close() {
      await x.close();
      await pool.end();
      await env.close();
    },
  };
}

function xTimelineRequests(sandbox: RunningSandbox, userId: string, sinceSeq = 0) {
  return sandbox
    .requests(sinceSeq)
    .filter(
      (entry) =>
        entry.provider === 'x' &&
        entry.endpoint.includes('tweets') &&
        entry.params.user_id === userId,
    );
}

/** The truth with only its newest `count` tweets (what a backfill to that depth stores). */
function newest(truth: Truth, count: number): Truth {
  return { ...truth, tweets: truth.tweets.slice(0, count) };
}

/** Reads `pages` pages of a new window, then lets the saved token outlive its TTL. */
async function readThenExpire(
  h: Harness,
  target: { provider: 'x'; userId: string },
  pages: number,
): Promise<string> {
  let runId: string | null = null;
  for (let page = 0; page < pages; page++) {
    const step = await crawlPage({
      db: h.db,
      client: h.x,
      target,
      runId,
      pageSize: PAGE_SIZE,
    });
    expect(step).toMatchObject({ outcome: 'page', next: 'page', windowPages: page + 1 });
    runId = step.runId;
  }
  h.sandbox.clock.advance(2 * CURSOR_TTL_MS);
  return runId as string;
}

describe('an X window whose pagination token expired', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness('x_cursor_expiry', { accounts: 3, tweetsPerAccount: 200 });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('backfill: goes on below the oldest tweet read, to the depth, asking for no page twice', async () => {
    const userId = h.sandbox.accounts()[0]?.id as string;
    const target = { provider: 'x', userId } as const;
    await upsertTarget(h.db, { ...target, backfillDepth: 150 });
    const truth = h.sandbox.truth(userId);
    const runId = await readThenExpire(h, target, 3);
    const oldestRead = truth.tweets[3 * PAGE_SIZE - 1]?.id as string;

    const expired = await crawlPage({ db: h.db, client: h.x, target, runId, pageSize: PAGE_SIZE });
    expect(expired).toMatchObject({
      outcome: 'cursor_expired',
      next: 'page',
      requests: 1,
      cursor: null,
      windowPages: 3,
    });
    expect(await getCheckpoint(h.db, target)).toMatchObject({
      sinceId: null,
      cursor: null,
      windowNewestId: truth.tweets[0]?.id,
      windowOldestId: oldestRead,
      windowUntilId: oldestRead,
      windowPages: 3,
      windowFetched: 60,
    });

    const rest = await crawlTargetToEnd({ db: h.db, client: h.x, target, pageSize: PAGE_SIZE });
    expect(rest).toMatchObject({
      outcome: 'succeeded',
      runId,
      kind: 'backfill',
      pages: 5,
      requests: 5,
      timelineTweets: 90,
      gaps: [],
      sinceId: truth.tweets[0]?.id,
    });

    // 8 pages (7 of 20, the last one sized to the depth's remaining 10) + the rejected request.
    const requests = xTimelineRequests(h.sandbox, userId);
    expect(requests.map((entry) => entry.status)).toEqual([
      200, 200, 200, 400, 200, 200, 200, 200, 200,
    ]);
    expect(requests[3]?.params.pagination_token).toBeDefined();
    expect(requests.map((entry) => entry.params.max_results)).toEqual([
      '20',
      '20',
      '20',
      '20',
      '20',
      '20',
      '20',
      '20',
      '10',
    ]);
    const remainder = requests.slice(4);
    expect(remainder.map((entry) => entry.params.until_id)).toEqual(Array(5).fill(oldestRead));
    expect(remainder[0]?.params.pagination_token).toBeUndefined();
    expect(remainder.slice(1).every((entry) => entry.params.pagination_token !== undefined)).toBe(
      true,
    );
    expect(requests.every((entry) => entry.params.since_id === undefined)).toBe(true);

    expect(await getRun(h.db, runId)).toMatchObject({
      outcome: 'succeeded',
      pages: 8,
      requests: 9,
    });
    expect(await databaseSnapshot(h.pool, userId)).toEqual(
      truthSnapshot(newest(truth, 150), { withFaces: false }),
    );
    expect(await getCheckpoint(h.db, target)).toMatchObject({
      sinceId: truth.tweets[0]?.id,
      backfillDone: true,
      cursor: null,
      windowUntilId: null,
      windowOldestId: null,
      windowPages: 0,
      windowStartedAt: null,
    });
    expect(await listGaps(h.db, target)).toEqual([]);
  });

  it('crash mid-remainder: a new process resumes with the saved until_id (and its cursor once it has one)', async () => {
    const userId = h.sandbox.accounts()[1]?.id as string;
    const target = { provider: 'x', userId } as const;
    await upsertTarget(h.db, { ...target, backfillDepth: 3200 });
    const truth = h.sandbox.truth(userId);
    const runId = await readThenExpire(h, target, 3);
    const oldestRead = truth.tweets[3 * PAGE_SIZE - 1]?.id as string;
    const expired = await crawlPage({ db: h.db, client: h.x, target, runId, pageSize: PAGE_SIZE });
    expect(expired).toMatchObject({ outcome: 'cursor_expired', windowPages: 3 });

    // `birdfeed status` says where the window stands.
    const status = (await statusReport(h.db, { provider: 'x' })).targets.find(
      (t) => t.userId === userId,
    );
    expect(status?.checkpoint).toMatchObject({
      windowOpen: true,
      windowPages: 3,
      hasCursor: false,
      windowUntilId: oldestRead,
    });

    /** The process dies while the sandbox holds its request: nothing of that page is written. */
    const crashDuringNextPage = async () => {
      const before = h.sandbox.requests().at(-1)?.seq ?? 0;
      h.sandbox.faults.add('hang*1@x');
      const crash = new AbortController();
      const crashing = crawlPage({
        db: h.db,
        client: h.x,
        target,
        runId,
        pageSize: PAGE_SIZE,
        signal: crash.signal,
      }).catch((error: unknown) => error);
      const deadline = Date.now() + 10_000;
      while (!h.sandbox.requests(before).some((entry) => entry.fault === 'hang')) {
        if (Date.now() > deadline) throw new Error('the sandbox never took the hanging request');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      crash.abort(new Error('crashed mid-page'));
      expect(await crashing).toBeInstanceOf(Error);
    };

    /** A fresh process: its own connections to Postgres and to the provider. */
    const inNewProcess = async <T>(
      use: (db: BirdfeedDb, client: TimelineClient) => Promise<T>,
    ): Promise<T> => {
      const database = await openDatabase({ url: h.env.testDb.url, maxConnections: 2 });
      const client = createXClient({ baseUrl: h.sandbox.url, bearerToken: 'sandbox-x-token' });
      try {
        return await use(database.db, client);
      } finally {
        await client.close();
        await database.close();
      }
    };

    // Crash 1: on the remainder's first request (no cursor yet, only the bound).
    await crashDuringNextPage();
    expect(await getCheckpoint(h.db, target)).toMatchObject({
      cursor: null,
      windowUntilId: oldestRead,
      windowPages: 3,
    });
    let seq = h.sandbox.requests().at(-1)?.seq ?? 0;
    const resumed = await inNewProcess(async (db, client) => {
      const a = await crawlPage({ db, client, target, runId, pageSize: PAGE_SIZE });
      return [a, await crawlPage({ db, client, target, runId, pageSize: PAGE_SIZE })];
    });
    expect(resumed.map((step) => step.outcome)).toEqual(['page', 'page']);
    const afterCrash1 = xTimelineRequests(h.sandbox, userId, seq);
    expect(afterCrash1[0]?.params).toMatchObject({ until_id: oldestRead });
    expect(afterCrash1[0]?.params.pagination_token).toBeUndefined();
    expect(afterCrash1[0]?.status).toBe(200);

    // Crash 2: deeper in the remainder, with a saved cursor and the bound.
    const saved = await getCheckpoint(h.db, target);
    expect(saved).toMatchObject({ windowUntilId: oldestRead, windowPages: 5 });
    expect(saved?.cursor).not.toBeNull();
    await crashDuringNextPage();
    expect(await getCheckpoint(h.db, target)).toMatchObject({
      cursor: saved?.cursor,
      windowUntilId: oldestRead,
      windowPages: 5,
    });
    seq = h.sandbox.requests().at(-1)?.seq ?? 0;
    const end = await inNewProcess((db, client) =>
      crawlTargetToEnd({ db, client, target, pageSize: PAGE_SIZE }),
    );
    expect(end).toMatchObject({ outcome: 'succeeded', runId, pages: 5, requests: 5 });
    const afterCrash2 = xTimelineRequests(h.sandbox, userId, seq);
    expect(afterCrash2[0]?.params).toMatchObject({
      until_id: oldestRead,
      pagination_token: saved?.cursor,
    });
    expect(afterCrash2.every((entry) => entry.params.until_id === oldestRead)).toBe(true);

    // 10 pages of 20 + the rejected request + the two that hung (sent, so counted).
    expect(xTimelineRequests(h.sandbox, userId)).toHaveLength(13);
    expect(await getRun(h.db, runId)).toMatchObject({
      outcome: 'succeeded',
      pages: 10,
      requests: 13,
    });
    expect(await databaseSnapshot(h.pool, userId)).toEqual(
      truthSnapshot(truth, { withFaces: false }),
    );
    expect(await getCheckpoint(h.db, target)).toMatchObject({
      sinceId: truth.tweets[0]?.id,
      backfillDone: true,
      windowUntilId: null,
    });
  });
});

describe('an incremental X window whose pagination token expired, with short and empty pages', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness('x_cursor_expiry_incr', {
      accounts: 1,
      tweetsPerAccount: 300,
      shortPageRate: 0.2,
      emptyPageRate: 0.15,
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('keeps since_id on every request, reads each tweet once, and moves since_id to the newest', async () => {
    const userId = h.sandbox.accounts()[0]?.id as string;
    const target = { provider: 'x', userId } as const;
    const truth = h.sandbox.truth(userId);
    // Read long ago up to its 200th newest tweet: 199 tweets above since_id.
    const sinceId = truth.tweets[199]?.id as string;
    await upsertTarget(h.db, target);
    await h.pool.query(
      `INSERT INTO crawl_checkpoints (provider, user_id, since_id, backfill_done) VALUES ('x', $1, $2, true)`,
      [userId, sinceId],
    );
    const runId = await readThenExpire(h, target, 4);
    const before = await getCheckpoint(h.db, target);
    // The pages read so far listed tweets (a window of empty pages only has nothing to go below).
    expect(before?.windowOldestId).not.toBeNull();
    const read = before?.windowFetched ?? 0;

    const expired = await crawlPage({ db: h.db, client: h.x, target, runId, pageSize: PAGE_SIZE });
    expect(expired).toMatchObject({ outcome: 'cursor_expired', windowPages: 4, sinceId });
    expect(await getCheckpoint(h.db, target)).toMatchObject({
      windowUntilId: before?.windowOldestId,
      windowNewestId: truth.tweets[0]?.id,
      windowFetched: read,
      windowPages: 4,
      windowEmptyPages: 0,
    });
    const rest = await crawlTargetToEnd({ db: h.db, client: h.x, target, pageSize: PAGE_SIZE });
    expect(rest).toMatchObject({ outcome: 'succeeded', kind: 'incremental', runId, gaps: [] });
    // No tweet of the window is read twice: the pages after the expiry list exactly the rest.
    expect(read + rest.timelineTweets).toBe(199);

    const requests = xTimelineRequests(h.sandbox, userId);
    const run = await getRun(h.db, runId);
    expect(run).toMatchObject({ outcome: 'succeeded', requests: requests.length });
    expect(requests.length).toBe((run?.pages ?? 0) + 1);
    // Short and empty pages were met (199 tweets fill 10 full pages).
    expect(run?.pages).toBeGreaterThan(10);
    expect(requests.every((entry) => entry.params.since_id === sinceId)).toBe(true);
    expect(
      requests.slice(5).every((entry) => entry.params.until_id === before?.windowOldestId),
    ).toBe(true);
    expect(requests.slice(0, 5).every((entry) => entry.params.until_id === undefined)).toBe(true);

    const newer = { ...truth, tweets: truth.tweets.slice(0, 199) };
    expect(await databaseSnapshot(h.pool, userId)).toEqual(
      truthSnapshot(newer, { withFaces: false }),
    );
    expect(await getCheckpoint(h.db, target)).toMatchObject({
      sinceId: truth.tweets[0]?.id,
      windowUntilId: null,
      windowStartedAt: null,
    });
    expect(await listGaps(h.db, target)).toEqual([]);
  });
});

describe('an incremental X window past the 3,200 cap whose token expired while the account posted', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness('x_cursor_expiry_cap', {
      accounts: 1,
      tweetsPerAccount: 3_350,
      activity: 'steady',
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('reads the rest below the oldest tweet read down to the floor, and records the gap under it', async () => {
    const userId = h.sandbox.accounts()[0]?.id as string;
    const target = { provider: 'x', userId } as const;
    const before = h.sandbox.truth(userId).tweets;
    // 3,190 tweets above the checkpoint: within the cap when nothing is posted meanwhile.
    const sinceId = before[3190]?.id as string;
    await upsertTarget(h.db, target);
    await h.pool.query(
      `INSERT INTO crawl_checkpoints (provider, user_id, since_id, backfill_done) VALUES ('x', $1, $2, true)`,
      [userId, sinceId],
    );
    const first = await crawlPage({ db: h.db, client: h.x, target });
    expect(first).toMatchObject({ outcome: 'page', timelineTweets: 100 });
    // Two sandbox days pass: the token expires, the account posts, and X's floor of the newest
    // 3,200 rises past since_id.
    h.sandbox.clock.advance(2 * 24 * 3_600_000);
    const posted = h.sandbox.truth(userId).tweets.length - before.length;
    expect(posted).toBeGreaterThan(9);

    const rest = await crawlTargetToEnd({ db: h.db, client: h.x, target });
    expect(rest).toMatchObject({ outcome: 'succeeded', runId: first.runId, cursorRestarts: 1 });
    const requests = xTimelineRequests(h.sandbox, userId);
    expect(requests[1]?.status).toBe(400);
    expect(requests.slice(2).every((entry) => entry.params.until_id === before[99]?.id)).toBe(true);
    expect(requests.length).toBe(1 + rest.requests);
    expect(requests.length).toBe(1 + rest.pages + 1);

    // Read without a hole from the window's newest down to the oldest tweet X still served;
    // what lies between that and since_id is the gap, and really missing.
    const stored = (await databaseSnapshot(h.pool, userId)).tweets.map((t) => t.id);
    const oldestRead = stored.at(-1) as string;
    expect(rest.gaps).toEqual([{ sinceId, oldestId: oldestRead, reason: 'x_timeline_cap' }]);
    expect(await listGaps(h.db, target)).toMatchObject([
      { sinceId, oldestId: oldestRead, reason: 'x_timeline_cap' },
    ]);
    const oldestIndex = before.findIndex((t) => t.id === oldestRead);
    // The floor: the 3,200th newest once the account had posted.
    expect(oldestIndex).toBe(3199 - posted);
    expect(stored).toEqual(before.slice(0, oldestIndex + 1).map((t) => t.id));
    expect(await getCheckpoint(h.db, target)).toMatchObject({
      sinceId: before[0]?.id,
      windowUntilId: null,
    });
  });
});
