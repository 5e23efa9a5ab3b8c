import type { CanonicalPage } from '@birdfeed/model';
import { PgTransaction } from 'drizzle-orm/pg-core';
import type { BirdfeedExecutor, BirdfeedTx } from '../database.ts';
import { mediaTable, tweetsTable, usersTable } from './entity-specs.ts';
import { replaceFaces, replaceFocusRects } from './faces.ts';
import { appendTweetMetrics, appendUserMetrics } from './metrics-history.ts';
import { pageRows } from './page-rows.ts';
import { recordRawPage } from './raw-pages.ts';
import { upsertReferences, upsertTweetMedia } from './relations.ts';
import { upsertEntities } from './unnest-upsert.ts';

export interface UpsertPageOptions {
  /**
   * Runs the caller's own statements (checkpoint transition, run counters) inside the
   * transaction that writes the page's tweets: they commit or roll back together. Gets what
   * the page wrote so far (every table, the raw page included), e.g. to add tweetsNew to the
   * run's counters in the same transaction.
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

/** Rows this call wrote, per table. "Written" = inserted or changed, not merely matched. */
export interface UpsertResult {
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
  /** Id of the raw_pages row when `options.raw` was given. */
  rawPageId: string | null;
}

/**
 * Writes one canonical page: one batched statement per table, in one transaction with the
 * caller's `inTransaction` statements and the raw body.
 *
 * Users go first in a short transaction of their own (sorted by id). Author rows are shared by
 * every page of every parallel writer; inside the long page transaction their row locks are
 * held until commit and serialize writers (measured: 2 connections gain nothing, 72% of COPY
 * once authors move out — DESIGN.md). A crash between the two transactions leaves only users
 * written, which the retry rewrites harmlessly.
 */
export async function upsertPage(
  db: BirdfeedExecutor,
  page: CanonicalPage,
  options: UpsertPageOptions = {},
): Promise<UpsertResult> {
  const rows = pageRows(page);
  const observedAt = page.observedAt;
  const result: UpsertResult = {
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
    rawPageId: null,
  };

  const writeUsers = async (executor: BirdfeedExecutor) => {
    const users = await upsertEntities(executor, usersTable, rows.users, observedAt);
    result.usersNew = users.inserted;
    result.users = users.inserted + users.updated;
    result.userMetrics = await appendUserMetrics(
      executor,
      rows.users,
      observedAt,
      users.insertedKeys,
    );
  };

  const separateUsers = options.separateUserTransaction !== false && !(db instanceof PgTransaction);
  if (separateUsers && rows.users.length > 0) await db.transaction(writeUsers);

  await db.transaction(async (tx) => {
    if (!separateUsers) await writeUsers(tx);
    const tweets = await upsertEntities(tx, tweetsTable, rows.tweets, observedAt);
    result.tweetsNew = tweets.inserted;
    result.tweetsUpdated = tweets.updated;
    result.tweetMetrics = await appendTweetMetrics(
      tx,
      rows.tweets,
      observedAt,
      tweets.insertedKeys,
    );
    result.tweetReferences = await upsertReferences(tx, rows.references);
    const media = await upsertEntities(tx, mediaTable, rows.media, observedAt);
    result.mediaNew = media.inserted;
    result.media = media.inserted + media.updated;
    result.tweetMedia = await upsertTweetMedia(tx, rows.tweetMedia, tweets.insertedKeys);
    const faces = await replaceFaces(tx, rows.faceSizesReported, rows.faces, media.insertedKeys);
    result.faces = faces.written;
    result.facesRemoved = faces.removed;
    const focus = await replaceFocusRects(
      tx,
      rows.focusRectsReported,
      rows.focusRects,
      media.insertedKeys,
    );
    result.focusRects = focus.written;
    result.focusRectsRemoved = focus.removed;
    if (options.raw !== undefined) {
      result.rawPageId = await recordRawPage(tx, {
        provider: page.provider,
        userId: page.userId,
        body: options.raw.body,
        requestUrl: options.raw.requestUrl,
        status: options.raw.status,
        runId: options.raw.runId,
        fetchedAt: observedAt,
      });
    }
    if (options.inTransaction !== undefined) {
      await options.inTransaction(tx as BirdfeedTx, { ...result });
    }
  });
  return result;
}
