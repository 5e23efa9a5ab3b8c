import { crawlOnce, crawlPage, crawlTargetToEnd } from '@birdfeed/crawl';
import {
  type BirdfeedDb,
  type Database,
  getCheckpoint,
  listGaps,
  migrate,
  openDatabase,
  upsertTarget,
} from '@birdfeed/db';
import type { ProviderName } from '@birdfeed/model';
import { createAgntdataClient, createXClient, type TimelineClient } from '@birdfeed/providers';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSandbox, startSandbox } from '../apps/sandbox/src/index.ts';
import { databaseSnapshot, truthSnapshot } from './support/crawl-truth.ts';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';

/**
 * The crawl step against the sandbox over HTTP and real Postgres: what lands in the database
 * equals what the sandbox knows it served, and the request log shows how it was asked.
 */

const EPOCH = Date.UTC(2026, 5, 1, 12, 0, 0);
const HOUR = 3_600_000;

interface Harness {
  sandbox: RunningSandbox;
  testDb: TestDatabase;
  database: Database;
  db: BirdfeedDb;
  pool: pg.Pool;
  clients: Record<ProviderName, TimelineClient>;
  close(): Promise<void>;
}

async function harness(
  label: string,
  sandboxOptions: Parameters<typeof startSandbox>[0],
): Promise<Harness> {
  const sandbox = await startSandbox({
    epochMs: EPOCH,
    frozen: true,
    specialAccounts: false,
    xRateLimit: 100_000,
    agntdataRequestsPerMinute: 100_000,
    shortPageRate: 0,
    emptyPageRate: 0,
    ...sandboxOptions,
  });
  const testDb = await createTestDatabase(label);
  const database = await openDatabase({ url: testDb.url, maxConnections: 4 });
  await migrate(database.db);
  const pool = new pg.Pool({ connectionString: testDb.url, max: 2 });
  // Dropping the database at the end terminates idle clients; that is expected.
  pool.on('error', () => {});
  const clients = {
    x: createXClient({ baseUrl: sandbox.url, bearerToken: 'sandbox-x-token' }),
    agntdata: createAgntdataClient({ baseUrl: sandbox.url, apiKey: 'sandbox-agntdata-key' }),
  };
  return {
    sandbox,
    testDb,
    database,
    db: database.db,
    pool,
    clients,
    async close() {
      await Promise.allSettled([clients.x.close(), clients.agntdata.close()]);
      await pool.end();
      await database.close();
      await testDb.drop();
      await sandbox.stop();
    },
  };
}

/** An X target read long ago: backfilled, its checkpoint at `sinceId`. */
async function watchXFrom(h: Harness, userId: string, sinceId: string): Promise<void> {
  await upsertTarget(h.db, { provider: 'x', userId });
  await h.pool.query(
    `INSERT INTO crawl_checkpoints (provider, user_id, since_id, backfill_done) VALUES ('x', $1, $2, true)`,
    [userId, sinceId],
  );
}

function xRequestsOf(sandbox: RunningSandbox, userId: string, sinceSeq = 0) {
  return sandbox
    .requests(sinceSeq)
    .filter(
      (entry) =>
        entry.provider === 'x' &&
        entry.endpoint.includes('tweets') &&
        entry.params.user_id === userId,
    );
}

describe('a one-shot crawl of 20 sandbox accounts on both providers', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness('crawl_sandbox_full', {
      accounts: 20,
      tweetsPerAccount: (index) => 30 + ((index * 37) % 260),
      activity: 'steady',
    });
    for (const account of h.sandbox.accounts()) {
      for (const provider of ['x', 'agntdata'] as const) {
        await upsertTarget(h.db, { provider, userId: account.id, backfillDepth: 3200 });
      }
    }
  });
  afterAll(async () => {
    await h?.close();
  });

  it('equals the sandbox truth exactly, and the next run asks with since_id = the checkpoint for the new tweets only', async () => {
    const first = await crawlOnce({ db: h.db, clients: h.clients, concurrency: 3 });
    expect(first.skipped).toEqual([]);
    expect(first.targets.map((t) => t.outcome)).toEqual(Array(40).fill('succeeded'));
    expect(first.ok).toBe(true);

    const accounts = h.sandbox.accounts();
    for (const account of accounts) {
      const truth = h.sandbox.truth(account.id);
      expect(truth.tweets.length).toBe(account.tweetCount);
      expect(await databaseSnapshot(h.pool, account.id)).toEqual(truthSnapshot(truth));
      // agntdata serves only tweets with media; its checkpoint is the newest of those.
      const withMedia = truth.tweets.filter((tweet) => tweet.media.length > 0);
      expect((await getCheckpoint(h.db, { provider: 'x', userId: account.id }))?.sinceId).toBe(
        truth.tweets[0]?.id ?? null,
      );
      expect(
        (await getCheckpoint(h.db, { provider: 'agntdata', userId: account.id }))?.sinceId,
      ).toBe(withMedia[0]?.id ?? null);
    }
    const duplicates = await h.pool.query(
      `SELECT 'tweet_media' AS t, count(*) - count(DISTINCT (tweet_id, media_key)) AS d FROM tweet_media
       UNION ALL SELECT 'faces', count(*) - count(DISTINCT (media_key, size, idx)) FROM media_faces`,
    );
    expect(duplicates.rows.map((row) => Number(row.d))).toEqual([0, 0]);
    const counts = async () =>
      (
        await h.pool.query(
          `SELECT (SELECT count(*) FROM tweets) AS tweets, (SELECT count(*) FROM media) AS media,
             (SELECT count(*) FROM media_faces) AS faces, (SELECT count(*) FROM tweet_media) AS links`,
        )
      ).rows[0];
    const before = await counts();

    // Time passes: new tweets appear. The next run of each X target asks with since_id = the
    // stored checkpoint on every page and gets only the new tweets.
    h.sandbox.clock.advance(10 * HOUR);
    const checkpoints = new Map<string, string | null>();
    const agntdataCheckpoints = new Map<string, string | null>();
    for (const account of accounts) {
      checkpoints.set(
        account.id,
        (await getCheckpoint(h.db, { provider: 'x', userId: account.id }))?.sinceId ?? null,
      );
      agntdataCheckpoints.set(
        account.id,
        (await getCheckpoint(h.db, { provider: 'agntdata', userId: account.id }))?.sinceId ?? null,
      );
    }
    const seq = h.sandbox.requests().at(-1)?.seq ?? 0;
    const second = await crawlOnce({
      db: h.db,
      clients: h.clients,
      targets: accounts.flatMap((account) => [
        { provider: 'x' as const, userId: account.id },
        { provider: 'agntdata' as const, userId: account.id },
      ]),
    });
    expect(second.ok).toBe(true);
    let grew = 0;
    for (const account of accounts) {
      const truth = h.sandbox.truth(account.id);
      const since = checkpoints.get(account.id) as string;
      const newTweets = truth.tweets.filter((tweet) => BigInt(tweet.id) > BigInt(since));
      const requests = xRequestsOf(h.sandbox, account.id, seq);
      expect(requests.length).toBeGreaterThan(0);
      expect(requests.every((entry) => entry.params.since_id === since)).toBe(true);
      // 100 per page: exactly the pages the new tweets fill (one request when there are none).
      expect(requests.length).toBe(Math.max(1, Math.ceil(newTweets.length / 100)));
      const summary = second.targets.find((t) => t.provider === 'x' && t.userId === account.id);
      expect(summary?.timelineTweets).toBe(newTweets.length);
      expect(summary?.sinceId).toBe(truth.tweets[0]?.id);
      expect((await databaseSnapshot(h.pool, account.id)).tweets.map((t) => t.id)).toEqual(
        truth.tweets.map((t) => t.id),
      );
      grew += newTweets.length;

      // agntdata has no since_id: it pages from the top and stops at the first page that
      // reaches the checkpoint (20 media tweets a page).
      const mediaSince = agntdataCheckpoints.get(account.id);
      if (mediaSince == null) continue;
      const newWithMedia = truth.tweets.filter(
        (tweet) => tweet.media.length > 0 && BigInt(tweet.id) > BigInt(mediaSince),
      );
      const agntdataRequests = h.sandbox
        .requests(seq)
        .filter((entry) => entry.provider === 'agntdata' && entry.params.user_id === account.id);
      expect(agntdataRequests.length).toBe(Math.floor(newWithMedia.length / 20) + 1);
      const agntdataSummary = second.targets.find(
        (t) => t.provider === 'agntdata' && t.userId === account.id,
      );
      expect(agntdataSummary).toMatchObject({
        outcome: 'succeeded',
        gaps: [],
        sinceId: newWithMedia[0]?.id ?? mediaSince,
      });
    }
    expect(grew).toBeGreaterThan(0);
    for (const account of accounts) {
      expect(await databaseSnapshot(h.pool, account.id)).toEqual(
        truthSnapshot(h.sandbox.truth(account.id)),
      );
    }
    expect(Number((await counts())?.tweets)).toBeGreaterThan(Number(before?.tweets));
  });
});

describe('windows that do not go straight', () => {
  // X goes on below the oldest tweet read instead (until_id): test/crawl-x-cursor-expiry.test.ts.
  it('restarts an agntdata window from the top when its cursor expired (it has no until_id), and still ends equal to the truth', async () => {
    const h = await harness('crawl_sandbox_cursor', {
      accounts: 1,
      tweetsPerAccount: 260,
      activity: 'silent',
      cursorTtlMs: 60_000,
    });
    try {
      const [account] = h.sandbox.accounts();
      const userId = account?.id as string;
      const target = { provider: 'agntdata', userId } as const;
      await upsertTarget(h.db, { ...target, backfillDepth: 3200 });
      const client = h.clients.agntdata;
      const first = await crawlPage({ db: h.db, client, target });
      expect(first).toMatchObject({ next: 'page', windowPages: 1 });
      expect(first.cursor).not.toBeNull();
      h.sandbox.clock.advance(2 * 60_000); // the saved token is now older than its TTL
      const expired = await crawlPage({ db: h.db, client, target, runId: first.runId });
      expect(expired).toMatchObject({
        next: 'page',
        outcome: 'cursor_expired',
        cursor: null,
        windowPages: 0,
      });
      expect(await getCheckpoint(h.db, target)).toMatchObject({
        windowNewestId: null,
        windowOldestId: null,
        windowUntilId: null,
      });
      const seq = h.sandbox.requests().at(-1)?.seq ?? 0;
      const rest = await crawlTargetToEnd({ db: h.db, client, target });
      expect(rest).toMatchObject({ outcome: 'succeeded', runId: first.runId, cursorRestarts: 0 });
      // The restart asked from the top again: no token on its first request.
      const restart = h.sandbox.requests(seq).find((entry) => entry.provider === 'agntdata');
      expect(restart?.endpoint).not.toContain('continuation');
      expect(restart?.params.continuation_token).toBeUndefined();
      expect(await databaseSnapshot(h.pool, userId, { onlyWithMedia: true })).toEqual(
        truthSnapshot(h.sandbox.truth(userId), { onlyWithMedia: true }),
      );
    } finally {
      await h.close();
    }
  });

  it('resumes from the saved cursor after a crash, and a re-run step doubles nothing', async () => {
    const h = await harness('crawl_sandbox_crash', {
      accounts: 1,
      tweetsPerAccount: 330,
      activity: 'silent',
      hangMs: 5_000,
    });
    try {
      const userId = h.sandbox.accounts()[0]?.id as string;
      const target = { provider: 'x' as const, userId };
      await upsertTarget(h.db, { ...target, backfillDepth: 3200 });
      const first = await crawlPage({ db: h.db, client: h.clients.x, target });
      const saved = await getCheckpoint(h.db, target);
      expect(saved).toMatchObject({ windowPages: 1, cursor: first.cursor });

      // The process dies in the middle of page 2 (the request never answers): nothing moves.
      h.sandbox.faults.add('hang*1@x');
      // The "crash" comes once the sandbox holds the request (a timer alone could fire before the
      // request left, on a loaded machine, and leave the fault for a later request).
      const crash = new AbortController();
      const crashing = crawlPage({
        db: h.db,
        client: h.clients.x,
        target,
        runId: first.runId,
        signal: crash.signal,
      }).catch((error: unknown) => error);
      const deadline = Date.now() + 10_000;
      while (!h.sandbox.requests().some((entry) => entry.fault === 'hang')) {
        if (Date.now() > deadline) throw new Error('the sandbox never took the hanging request');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      crash.abort(new Error('crashed mid-page'));
      const crashed = await crashing;
      expect(crashed).toBeInstanceOf(Error);
      expect(await getCheckpoint(h.db, target)).toMatchObject({
        windowPages: 1,
        cursor: saved?.cursor,
        sinceId: null,
      });

      // A new process picks the run up where the checkpoint says: the same token is asked again.
      const seq = h.sandbox.requests().at(-1)?.seq ?? 0;
      const client = createXClient({ baseUrl: h.sandbox.url, bearerToken: 'sandbox-x-token' });
      const resumed = await crawlTargetToEnd({ db: h.db, client, target });
      await client.close();
      expect(resumed).toMatchObject({ outcome: 'succeeded', runId: first.runId, pages: 3 });
      expect(h.sandbox.requests(seq)[0]?.params.pagination_token).toBe(saved?.cursor);

      // The last page's job delivered twice (a stall after its commit): the run is over, so the
      // duplicate neither fetches nor counts anything.
      const before = h.sandbox.requests().length;
      const duplicate = await crawlPage({
        db: h.db,
        client: h.clients.x,
        target,
        runId: first.runId,
      });
      expect(duplicate).toMatchObject({ next: 'done', outcome: 'stale', requests: 0 });
      expect(h.sandbox.requests().length).toBe(before);
      const run = await h.pool.query('SELECT pages, requests, tweets_new, outcome FROM crawl_runs');
      // Four pages written, five requests made: the one that hung was sent, so it counts.
      expect(run.rows).toEqual([
        { pages: 4, requests: 5, tweets_new: expect.any(Number), outcome: 'succeeded' },
      ]);
      const raw = await h.pool.query('SELECT count(*)::int AS n FROM raw_pages');
      expect(raw.rows[0]?.n).toBe(4);
      const stored = await databaseSnapshot(h.pool, userId);
      expect(stored).toEqual(truthSnapshot(h.sandbox.truth(userId), { withFaces: false }));
    } finally {
      await h.close();
    }
  });

  it('goes on through pages that come back empty with a next token', async () => {
    const h = await harness('crawl_sandbox_empty', {
      accounts: 3,
      tweetsPerAccount: 240,
      activity: 'silent',
      emptyPageRate: 0.3,
      shortPageRate: 0.2,
    });
    try {
      for (const account of h.sandbox.accounts()) {
        for (const provider of ['x', 'agntdata'] as const) {
          await upsertTarget(h.db, { provider, userId: account.id, backfillDepth: 3200 });
        }
      }
      const result = await crawlOnce({ db: h.db, clients: h.clients });
      expect(result.targets.filter((t) => t.outcome !== 'succeeded')).toEqual([]);
      expect(result.ok).toBe(true);
      for (const account of h.sandbox.accounts()) {
        expect(await databaseSnapshot(h.pool, account.id)).toEqual(
          truthSnapshot(h.sandbox.truth(account.id)),
        );
      }
      const empty = await h.pool.query(
        `SELECT count(*)::int AS n FROM raw_pages WHERE provider = 'x'
           AND body::jsonb -> 'meta' ->> 'result_count' = '0' AND body::jsonb -> 'meta' ? 'next_token'`,
      );
      expect(empty.rows[0]?.n).toBeGreaterThan(0);
    } finally {
      await h.close();
    }
  });

  it('records a gap when an account is past the 3,200 cap', async () => {
    const h = await harness('crawl_sandbox_cap', {
      accounts: 1,
      tweetsPerAccount: 3_350,
      activity: 'silent',
    });
    try {
      const userId = h.sandbox.accounts()[0]?.id as string;
      const truth = h.sandbox.truth(userId);
      expect(truth.x_reachable).toBe(3200);
      const oldest = truth.tweets.at(-1)?.id as string;
      // Crawled long ago: the checkpoint sits at the oldest tweet, 3,349 tweets behind.
      await watchXFrom(h, userId, oldest);
      const summary = await crawlTargetToEnd({
        db: h.db,
        client: h.clients.x,
        target: { provider: 'x', userId },
      });
      const oldestServed = truth.tweets[3199]?.id as string;
      expect(summary).toMatchObject({
        outcome: 'succeeded',
        kind: 'incremental',
        timelineTweets: 3200,
        sinceId: truth.tweets[0]?.id,
      });
      expect(summary.gaps).toEqual([
        { sinceId: oldest, oldestId: oldestServed, reason: 'x_timeline_cap' },
      ]);
      const gaps = await listGaps(h.db, { provider: 'x', userId });
      expect(gaps.map((gap) => [gap.sinceId, gap.oldestId, gap.reason])).toEqual([
        [oldest, oldestServed, 'x_timeline_cap'],
      ]);
      const stored = await databaseSnapshot(h.pool, userId);
      expect(stored.tweets.map((t) => t.id)).toEqual(truth.tweets.slice(0, 3200).map((t) => t.id));
    } finally {
      await h.close();
    }
  });
});

describe('the 3,200 cap while the account posts', () => {
  it('records the gap when tweets posted during the window push since_id under the floor', async () => {
    const h = await harness('crawl_sandbox_cap_moving', {
      accounts: 1,
      tweetsPerAccount: 3_350,
      activity: 'steady',
      // The cursor outlives the two days below: the window goes on rather than restarting.
      cursorTtlMs: 7 * 24 * HOUR,
    });
    try {
      const userId = h.sandbox.accounts()[0]?.id as string;
      const key = { provider: 'x', userId } as const;
      const before = h.sandbox.truth(userId).tweets;
      // 3,190 tweets above the checkpoint: within the cap when nothing is posted meanwhile.
      const sinceId = before[3190]?.id as string;
      await watchXFrom(h, userId, sinceId);
      const first = await crawlPage({ db: h.db, client: h.clients.x, target: key });
      expect(first).toMatchObject({ outcome: 'page', timelineTweets: 100 });
      // Two sandbox days pass between the first page and the rest: the account posts, X's
      // floor of the newest 3,200 rises past since_id, and the window fetches fewer than 3,200.
      h.sandbox.clock.advance(2 * 24 * HOUR);
      const posted = h.sandbox.truth(userId).tweets.length - before.length;
      expect(posted).toBeGreaterThan(9);
      const rest = await crawlTargetToEnd({ db: h.db, client: h.clients.x, target: key });
      expect(rest).toMatchObject({ outcome: 'succeeded', cursorRestarts: 0 });
      expect(rest.timelineTweets).toBeLessThan(3200);
      expect(rest.gaps).toEqual([
        { sinceId, oldestId: expect.any(String), reason: 'x_timeline_cap' },
      ]);
      // The tweets the gap stands for are really missing: the ones just above since_id.
      const stored = await databaseSnapshot(h.pool, userId);
      expect(stored.tweets.map((t) => t.id)).not.toContain(before[3189]?.id);
      const gaps = await listGaps(h.db, key);
      expect(gaps.map((gap) => gap.reason)).toEqual(['x_timeline_cap']);
    } finally {
      await h.close();
    }
  });

  it('records no gap for a window under the cap when nothing is posted meanwhile', async () => {
    const h = await harness('crawl_sandbox_cap_quiet', {
      accounts: 1,
      tweetsPerAccount: 3_350,
      activity: 'silent',
    });
    try {
      const userId = h.sandbox.accounts()[0]?.id as string;
      const key = { provider: 'x', userId } as const;
      const truth = h.sandbox.truth(userId).tweets;
      const sinceId = truth[3190]?.id as string;
      await watchXFrom(h, userId, sinceId);
      const summary = await crawlTargetToEnd({ db: h.db, client: h.clients.x, target: key });
      expect(summary).toMatchObject({ outcome: 'succeeded', timelineTweets: 3190, gaps: [] });
      expect((await getCheckpoint(h.db, key))?.sinceId).toBe(truth[0]?.id);
    } finally {
      await h.close();
    }
  });
});

describe('accounts that cannot be read', () => {
  it('marks suspended, protected and deleted accounts and does not ask for them again', async () => {
    const statuses = ['suspended', 'protected', 'deleted', 'active'] as const;
    const h = await harness('crawl_sandbox_unavailable', {
      accounts: 4,
      tweetsPerAccount: 50,
      activity: 'silent',
      accountStatus: (index) => statuses[index] ?? 'active',
    });
    try {
      const accounts = h.sandbox.accounts();
      for (const account of accounts) {
        await upsertTarget(h.db, { provider: 'x', userId: account.id, intervalSeconds: 60 });
      }
      const first = await crawlOnce({ db: h.db, clients: h.clients });
      expect(first.ok).toBe(false);
      expect(first.targets.map((t) => [t.userId, t.outcome]).sort()).toEqual(
        accounts.map((a) => [a.id, a.status === 'active' ? 'succeeded' : 'unavailable']).sort(),
      );
      const states = await h.pool.query<{
        user_id: string;
        state: string;
        state_reason: string | null;
      }>('SELECT user_id::text, state, state_reason FROM watch_targets ORDER BY user_id');
      const byId = new Map(states.rows.map((row) => [row.user_id, row]));
      expect(byId.get(accounts[0]?.id as string)?.state).toBe('suspended');
      expect(byId.get(accounts[1]?.id as string)?.state).toBe('protected');
      expect(['deleted', 'not_found']).toContain(byId.get(accounts[2]?.id as string)?.state);
      expect(byId.get(accounts[3]?.id as string)?.state).toBe('active');
      const runs = await h.pool.query<{ outcome: string; n: number }>(
        `SELECT outcome, count(*)::int AS n FROM crawl_runs GROUP BY outcome ORDER BY outcome`,
      );
      expect(runs.rows).toEqual([
        { outcome: 'succeeded', n: 1 },
        { outcome: 'unavailable', n: 3 },
      ]);

      // Due again later: only the readable account is asked for.
      await h.pool.query(`UPDATE watch_targets SET next_due_at = now() - interval '1 minute'`);
      const seq = h.sandbox.requests().at(-1)?.seq ?? 0;
      const second = await crawlOnce({ db: h.db, clients: h.clients });
      expect(second.ok).toBe(true);
      expect(second.targets.map((t) => t.userId)).toEqual([accounts[3]?.id]);
      const asked = new Set(h.sandbox.requests(seq).map((entry) => entry.params.user_id));
      expect([...asked]).toEqual([accounts[3]?.id]);
    } finally {
      await h.close();
    }
  });
});

describe('the one-shot retry policy', () => {
  it('retries 5xx with backoff, sleeps through a 429, and stops a provider whose credential is refused', async () => {
    const h = await harness('crawl_sandbox_retry', {
      accounts: 3,
      tweetsPerAccount: 150,
      activity: 'silent',
    });
    try {
      const accounts = h.sandbox.accounts();
      for (const account of accounts)
        await upsertTarget(h.db, { provider: 'x', userId: account.id, backfillDepth: 3200 });
      const sleeps: number[] = [];
      const sleep = async (ms: number) => {
        sleeps.push(ms);
      };
      const retry = { baseDelayMs: 8, maxDelayMs: 100, maxRateLimitWaitMs: 50 };

      h.sandbox.faults.add('500*2@x');
      const flaky = await crawlTargetToEnd({
        db: h.db,
        client: h.clients.x,
        target: { provider: 'x', userId: accounts[0]?.id as string },
        retry,
        sleep,
      });
      expect(flaky).toMatchObject({ outcome: 'succeeded', retries: 2, rateLimitWaits: 0 });
      expect(sleeps).toHaveLength(2);
      expect(sleeps[1]).toBeGreaterThanOrEqual(8); // the second wait is at least half of 2 × base

      h.sandbox.faults.add('429*1@x');
      const limited = await crawlTargetToEnd({
        db: h.db,
        client: h.clients.x,
        target: { provider: 'x', userId: accounts[1]?.id as string },
        retry,
        sleep,
      });
      expect(limited).toMatchObject({ outcome: 'succeeded', rateLimitWaits: 1, retries: 0 });
      const failures = await h.pool.query('SELECT count(*)::int AS n FROM crawl_failures');
      expect(failures.rows[0]?.n).toBe(0);
      for (const account of accounts.slice(0, 2)) {
        // X v2 reports no faces or focus rects: only agntdata does.
        expect(await databaseSnapshot(h.pool, account.id)).toEqual(
          truthSnapshot(h.sandbox.truth(account.id), { withFaces: false }),
        );
      }

      // A refused token fails the first target and leaves the rest uncrawled, on record.
      await h.pool.query(`UPDATE watch_targets SET next_due_at = now() - interval '1 second'`);
      const refused = createXClient({ baseUrl: h.sandbox.url, bearerToken: 'not-the-token' });
      const result = await crawlOnce({
        db: h.db,
        clients: { x: refused },
        concurrency: 1,
        retry,
        sleep,
      });
      await refused.close();
      expect(result.ok).toBe(false);
      expect(result.targets).toHaveLength(1);
      expect(result.targets[0]).toMatchObject({
        outcome: 'failed',
        errorName: 'UnauthorizedError',
      });
      expect(result.skipped).toEqual([
        { provider: 'x', count: 2, reason: expect.stringContaining('UnauthorizedError') },
      ]);
      const recorded = await h.pool.query<{ error_name: string }>(
        'SELECT error_name FROM crawl_failures',
      );
      expect(recorded.rows).toEqual([{ error_name: 'UnauthorizedError' }]);
    } finally {
      await h.close();
    }
  });
});
