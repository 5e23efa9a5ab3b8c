import type { CanonicalPage } from '@birdfeed/model';
import { PgTransaction } from 'drizzle-orm/pg-core';
import { type BirdfeedExecutor, type BirdfeedTx, executePrepared } from '../database.ts';
import { type Statement as SQL, stmt as sql } from '../statement.ts';
import { mediaTable, tweetsTable, usersTable } from './entity-specs.ts';
import { facesCtes, focusRectsCtes } from './faces.ts';
import {
  type HistoryOptions,
  tweetMetricsCte,
  tweetsReportingMetrics,
  userMetricsCte,
  usersReportingMetrics,
} from './metrics-history.ts';
import { type PageRows, pageRows } from './page-rows.ts';
import { rawPageCte } from './raw-pages.ts';
import { referencesCte, tweetMediaCte } from './relations.ts';
import { arrayParam, entityCte } from './unnest-upsert.ts';

export interface UpsertPageOptions {
  /**
   * Runs the caller's own statements (checkpoint transition, run counters) inside the
   * transaction that writes the page's tweets: they commit or roll back together. Gets what
   * the page wrote (every table, the raw page included), e.g. to add tweetsNew to the run's
   * counters in the same transaction.
   */
  inTransaction?: ((tx: BirdfeedTx, written: Readonly<UpsertResult>) => Promise<void>) | undefined;
  /** Keeps the fetched body in raw_pages, in the same transaction. */
  raw?:
    | {
        body: string;
        requestUrl: string;
        status: number;
        runId?: string | null | undefined;
      }
    | undefined;
  /**
   * Write users in their own short transaction before the page transaction.
   * @defaultValue true (ignored, i.e. false, when `db` is already a transaction)
   */
  separateUserTransaction?: boolean | undefined;
}

/**
 * Rows written, per table: inserted, or matched and updated by this observation. An update
 * always moves a row's observed/last-seen times, so a row re-observed with no value changed
 * counts as updated (the same page written twice at the same time included); the metrics
 * histories count only the rows they added.
 */
export interface UpsertCounts {
  tweetsNew: number;
  tweetsUpdated: number;
  users: number;
  usersNew: number;
  media: number;
  mediaNew: number;
  tweetMedia: number;
  tweetReferences: number;
  faces: number;
  facesRemoved: number;
  focusRects: number;
  focusRectsRemoved: number;
  tweetMetrics: number;
  userMetrics: number;
}

/** All zero: the start of one page's counts, or of a sum over many pages. */
export function emptyUpsertCounts(): UpsertCounts {
  return {
    tweetsNew: 0,
    tweetsUpdated: 0,
    users: 0,
    usersNew: 0,
    media: 0,
    mediaNew: 0,
    tweetMedia: 0,
    tweetReferences: 0,
    faces: 0,
    facesRemoved: 0,
    focusRects: 0,
    focusRectsRemoved: 0,
    tweetMetrics: 0,
    userMetrics: 0,
  };
}

/** What one `upsertPage` call wrote. */
export interface UpsertResult extends UpsertCounts {
  /** Id of the raw_pages row when `options.raw` was given. */
  rawPageId: string | null;
}

type Counts = Record<string, number | string | null>;

/** `with a as (…), b as (…) select <counts>`: the parts that have rows, one statement. */
function statement(ctes: (SQL | null)[], counts: Record<string, string>): SQL | null {
  const present = ctes.filter((cte): cte is SQL => cte !== null);
  if (present.length === 0) return null;
  const select = Object.entries(counts)
    .map(([alias, expression]) => `${expression} as ${alias}`)
    .join(', ');
  return sql.join([
    sql.raw('with '),
    sql.join(present, sql.raw(', ')),
    sql.raw(` select ${select}`),
  ]);
}

const count = (cte: string, where = '') =>
  `(select count(*) from ${cte}${where === '' ? '' : ` where ${where}`})::int`;

function usersStatement(rows: PageRows, observedAt: Date, history: HistoryOptions): SQL | null {
  if (rows.users.length === 0) return null;
  const metrics = userMetricsCte(rows.users, observedAt, 'um', 'us', history);
  return statement([entityCte(usersTable, rows.users, { name: 'us', observedAt }), metrics], {
    users_new: count('us', 'created'),
    users_updated: count('us', 'not created'),
    user_metrics:
      metrics === null ? '0' : `(${count('um_fresh')} + ${count('um')} + ${count('um_after')})`,
  });
}

function pageStatement(
  page: CanonicalPage,
  rows: PageRows,
  raw: UpsertPageOptions['raw'],
  history: HistoryOptions,
): SQL | null {
  const observedAt = page.observedAt;
  const ctes: (SQL | null)[] = [];
  const counts: Record<string, string> = {};
  if (rows.tweets.length > 0) {
    ctes.push(entityCte(tweetsTable, rows.tweets, { name: 'tw', observedAt }));
    counts.tweets_new = count('tw', 'created');
    counts.tweets_updated = count('tw', 'not created');
    const metrics = tweetMetricsCte(rows.tweets, observedAt, 'tm', 'tw', history);
    ctes.push(metrics);
    if (metrics !== null)
      counts.tweet_metrics = `(${count('tm_fresh')} + ${count('tm')} + ${count('tm_after')})`;
  }
  const references = referencesCte(rows.references, 'rf');
  ctes.push(references);
  if (references !== null) counts.tweet_references = count('rf');
  if (rows.media.length > 0) {
    ctes.push(entityCte(mediaTable, rows.media, { name: 'md', observedAt }));
    counts.media_new = count('md', 'created');
    counts.media_updated = count('md', 'not created');
    const faces = facesCtes(rows.faceSizesReported, rows.faces, 'fc', 'md', observedAt);
    ctes.push(faces);
    if (faces !== null) {
      counts.faces = `(${count('fc_fresh')} + ${count('fc_written')})`;
      counts.faces_removed = count('fc_removed');
    }
    const focus = focusRectsCtes(rows.focusRectsReported, rows.focusRects, 'fr', 'md', observedAt);
    ctes.push(focus);
    if (focus !== null) {
      counts.focus_rects = `(${count('fr_fresh')} + ${count('fr_written')})`;
      counts.focus_rects_removed = count('fr_removed');
    }
  }
  if (rows.tweetMedia.length > 0) {
    // Links to tweets outside this page's tweets (none in practice) count as existing tweets.
    const links = tweetMediaCte(
      rows.tweetMedia,
      'tl',
      rows.tweets.length > 0 ? 'tw' : '(select null::bigint as k, false as created)',
    );
    ctes.push(links);
    counts.tweet_media = `(${count('tl_fresh')} + ${count('tl')})`;
  }
  if (raw !== undefined) {
    ctes.push(
      rawPageCte(
        {
          provider: page.provider,
          userId: page.userId,
          body: raw.body,
          requestUrl: raw.requestUrl,
          status: raw.status,
          runId: raw.runId,
          fetchedAt: observedAt,
        },
        'rp',
      ),
    );
    counts.raw_page_id = '(select id::text from rp)';
  }
  return statement(ctes, counts);
}

/**
 * Transaction-scoped advisory locks, one per key, taken in key order: `namespace` keeps the
 * kinds of keys apart (a tweet id and a user id can be the same number). Advisory, not row
 * locks, because the rows may not exist yet: a writer holding row locks on the stored rows only
 * could wait for a row another writer had just inserted while holding one that writer needed
 * next (reproduced: deadlocks within seconds of the crawl bench).
 */
function advisoryLocks(namespace: string, keys: Iterable<string>): SQL | null {
  const sorted = [...new Set(keys)].sort();
  if (sorted.length === 0) return null;
  return sql.join([
    sql.raw(
      `(select count(pg_advisory_xact_lock(hashtextextended('birdfeed.${namespace}:' || k, 0))) from (select k from unnest(`,
    ),
    arrayParam('text', sorted),
    sql.raw(') as u(k) order by k) as ordered)::int'),
  ]);
}

/**
 * Before a statement that may extend the metrics history: a lock per tweet or user whose
 * metrics it reports. In READ COMMITTED the writing statement's snapshot is taken when it
 * starts; a writer that only waited inside it (on the row lock of its ON CONFLICT update) read
 * the history as it was before the other writer committed, and a change back to an earlier
 * value was compared with the row before the other writer's and left out (reproduced:
 * 10@00:00, 20@01:00 held open, 10@02:00 written with no row). Waiting here instead, the
 * statement starts after the other writer committed.
 */
const historyLocks = (kind: 'tweet' | 'user', ids: string[]) => advisoryLocks(kind, ids);

/**
 * Before a statement that replaces boxes: a lock per media. Two pages replacing the same
 * media's boxes at once would otherwise each delete "boxes past the reported count" as of its
 * own snapshot, taken before the other committed: the media row lock orders the writes but the
 * loser's snapshot is older, so boxes the winner wrote survived a newer page that reported
 * fewer (reproduced: 3 faces a size left where the newest page reported 1).
 */
function boxLocks(rows: PageRows): SQL | null {
  const keys: string[] = [];
  for (const reported of rows.faceSizesReported) keys.push(reported.mediaKey);
  for (const reported of rows.focusRectsReported) keys.push(reported.mediaKey);
  return advisoryLocks('media_boxes', keys);
}

/** One `select` of the given locks, taken left to right; null when there is nothing to lock. */
function locksStatement(locks: (SQL | null)[]): SQL | null {
  const present = locks.filter((lock): lock is SQL => lock !== null);
  if (present.length === 0) return null;
  return sql.join([sql.raw('select '), sql.join(present, sql.raw(', '))]);
}

function num(counts: Counts, key: string): number {
  return Number(counts[key] ?? 0);
}

/**
 * Writes one canonical page: one batched statement per table (never one per row), all of them
 * CTEs of ONE statement, so the page is atomic even without a transaction and costs one round
 * trip, planned once per connection (measured: 100-tweet pages as nine statements spent ~28 µs
 * a tweet on per-statement overhead, a fifth of the whole). With `inTransaction`, that statement
 * and the caller's run in one transaction.
 *
 * Users go first, in a transaction of their own (their advisory locks, then their statement),
 * sorted by id. Author rows are shared by every page of every parallel writer; inside the page
 * transaction their locks would be held until the caller's statements commit and serialize
 * writers (DESIGN.md: two connections gained nothing until authors moved out). A crash between
 * the two leaves only the users written, which the retry rewrites harmlessly.
 */
export async function upsertPage(
  db: BirdfeedExecutor,
  page: CanonicalPage,
  options: UpsertPageOptions = {},
): Promise<UpsertResult> {
  const rows = pageRows(page);
  const result: UpsertResult = { ...emptyUpsertCounts(), rawPageId: null };
  const inCallerTransaction = db instanceof PgTransaction;
  // Only a statement that runs after every other writer of its rows committed (the history
  // locks below) may delete a history row it judges redundant: see metrics-history.ts.
  const history = { collapse: !inCallerTransaction };
  const usersSql = usersStatement(rows, page.observedAt, history);
  const pageSql = pageStatement(page, rows, options.raw, history);

  // A caller's transaction (`birdfeed ingest`: one per file) would keep every page's locks until
  // it commits, a hundred-odd a page, and Postgres's one shared lock table (~7,800 entries with
  // the defaults) runs out at a few dozen pages: "out of shared memory" for a large file. Its
  // pages go without them; the races they close need another writer of the same rows at the
  // same instant (README, merge rules).
  const pageLocks = inCallerTransaction
    ? null
    : locksStatement([boxLocks(rows), historyLocks('tweet', tweetsReportingMetrics(rows.tweets))]);
  const userLocks = inCallerTransaction
    ? null
    : locksStatement([historyLocks('user', usersReportingMetrics(rows.users))]);
  const lock = async (executor: BirdfeedExecutor, locks: SQL | null) => {
    if (locks !== null) await executePrepared(executor, locks);
  };

  const writeUsers = async (executor: BirdfeedExecutor) => {
    if (usersSql === null) return;
    await lock(executor, userLocks);
    const [counts] = await executePrepared<Counts>(executor, usersSql);
    if (counts === undefined) return;
    result.usersNew = num(counts, 'users_new');
    result.users = result.usersNew + num(counts, 'users_updated');
    result.userMetrics = num(counts, 'user_metrics');
  };
  const writePage = async (executor: BirdfeedExecutor) => {
    if (pageSql === null) return;
    const [counts] = await executePrepared<Counts>(executor, pageSql);
    if (counts === undefined) return;
    result.tweetsNew = num(counts, 'tweets_new');
    result.tweetsUpdated = num(counts, 'tweets_updated');
    result.tweetMetrics = num(counts, 'tweet_metrics');
    result.tweetReferences = num(counts, 'tweet_references');
    result.mediaNew = num(counts, 'media_new');
    result.media = result.mediaNew + num(counts, 'media_updated');
    result.tweetMedia = num(counts, 'tweet_media');
    result.faces = num(counts, 'faces');
    result.facesRemoved = num(counts, 'faces_removed');
    result.focusRects = num(counts, 'focus_rects');
    result.focusRectsRemoved = num(counts, 'focus_rects_removed');
    const rawId = counts.raw_page_id;
    result.rawPageId = rawId === undefined || rawId === null ? null : String(rawId);
  };

  const separateUsers = options.separateUserTransaction !== false && !inCallerTransaction;
  if (separateUsers) {
    // The users' locks live as long as their own transaction: until the users are written.
    if (userLocks === null) await writeUsers(db);
    else await db.transaction(async (tx) => writeUsers(tx));
  }
  const inTransaction = options.inTransaction;
  const ownTransaction =
    inTransaction !== undefined || (!separateUsers && !inCallerTransaction) || pageLocks !== null;
  if (ownTransaction) {
    await db.transaction(async (tx) => {
      // Before any other lock of the transaction, in one order for every writer (media boxes,
      // then tweets, each sorted by key), so waiting here cannot close a cycle.
      await lock(tx, pageLocks);
      if (!separateUsers) await writeUsers(tx);
      await writePage(tx);
      if (inTransaction !== undefined) await inTransaction(tx as BirdfeedTx, { ...result });
    });
  } else {
    // Here the page is written in the caller's transaction (no locks), or has nothing to lock.
    if (!separateUsers) await writeUsers(db);
    await writePage(db);
  }
  return result;
}
