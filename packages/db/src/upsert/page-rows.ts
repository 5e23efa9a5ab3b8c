import type {
  CanonicalMedia,
  CanonicalPage,
  CanonicalTweet,
  CanonicalUser,
  FaceSize,
  Rect,
  TweetMediaLink,
  TweetReference,
} from '@birdfeed/model';
import { compareIds, FACE_SIZES, isSnowflakeId, REFERENCE_TYPES } from '@birdfeed/model';

/**
 * A page that cannot be written as it is (an id that is not a bigint, a bad rect, a value a
 * CHECK constraint of the schema refuses…).
 */
export class InvalidPageError extends Error {
  override readonly name = 'InvalidPageError';
  constructor(
    message: string,
    /** Where in the canonical page, e.g. `tweets[3].authorId`. */
    readonly path: string,
  ) {
    super(`${message} at ${path}`);
  }
}

export interface FaceRow {
  mediaKey: string;
  size: FaceSize;
  idx: number;
  rect: Rect;
}

export interface FocusRectRow {
  mediaKey: string;
  idx: number;
  rect: Rect;
}

/** The page as the rows it becomes: one entry per key, sorted by key. */
export interface PageRows {
  users: CanonicalUser[];
  tweets: CanonicalTweet[];
  references: { tweetId: string; type: string; referencedTweetId: string }[];
  media: CanonicalMedia[];
  tweetMedia: TweetMediaLink[];
  /** Sizes whose faces this page reported: those are replaced exactly. */
  faceSizesReported: { mediaKey: string; size: FaceSize; count: number }[];
  faces: FaceRow[];
  /** Media whose focus rects this page reported: those are replaced exactly. */
  focusRectsReported: { mediaKey: string; count: number }[];
  focusRects: FocusRectRow[];
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Later observations of the same key fill in or override what earlier ones reported. */
function overlay<T extends object>(base: T, next: T): T {
  const merged = { ...base } as Record<string, unknown>;
  for (const [key, value] of Object.entries(next)) {
    if (value !== undefined) merged[key] = value;
  }
  return merged as T;
}

function fold<T extends object>(
  items: T[],
  keyOf: (item: T) => string,
  combine: (a: T, b: T) => T,
  compare: (a: string, b: string) => number,
): T[] {
  const byKey = new Map<string, T>();
  for (const item of items) {
    const key = keyOf(item);
    const seen = byKey.get(key);
    byKey.set(key, seen === undefined ? item : combine(seen, item));
  }
  return [...byKey.entries()].sort((a, b) => compare(a[0], b[0])).map(([, item]) => item);
}

function checkId(value: string | null | undefined, path: string): void {
  if (value === undefined || value === null) return;
  if (typeof value !== 'string' || !isSnowflakeId(value)) {
    throw new InvalidPageError(`not a decimal bigint id: ${JSON.stringify(value)}`, path);
  }
}

const INT32_MIN = -2_147_483_648;
const INT32_MAX = 2_147_483_647;

/** A value for an `integer` column (sizes, durations, box coordinates). */
function checkInt32(value: number | null | undefined, path: string): void {
  if (value === undefined || value === null) return;
  if (!Number.isInteger(value) || value < INT32_MIN || value > INT32_MAX) {
    throw new InvalidPageError(`not a 32-bit integer: ${JSON.stringify(value)}`, path);
  }
}

/** A value for a `bigint` count column: a whole number a JS number holds exactly. */
function checkCount(value: number | null | undefined, path: string): void {
  if (value === undefined || value === null) return;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidPageError(`not a count: ${JSON.stringify(value)}`, path);
  }
}

/** A value for an `integer` column that holds a size or a duration (CHECK >= 0). */
function checkSize(value: number | null | undefined, path: string): void {
  checkInt32(value, path);
  if (value !== undefined && value !== null && value < 0) {
    throw new InvalidPageError(`not a size: ${JSON.stringify(value)}`, path);
  }
}

function checkRect(rect: Rect, path: string): void {
  for (const field of ['x', 'y', 'w', 'h'] as const) checkInt32(rect[field], `${path}.${field}`);
}

const TWEET_COUNTS = [
  'likeCount',
  'retweetCount',
  'replyCount',
  'quoteCount',
  'bookmarkCount',
  'viewCount',
  'impressionCount',
] as const;
const USER_COUNTS = [
  'followersCount',
  'followingCount',
  'tweetCount',
  'listedCount',
  'likeCount',
] as const;

function checkPage(page: CanonicalPage): void {
  checkId(page.userId, 'userId');
  page.users.forEach((user, i) => {
    checkId(user.id, `users[${i}].id`);
    for (const field of USER_COUNTS) checkCount(user[field], `users[${i}].${field}`);
  });
  page.tweets.forEach((tweet, i) => {
    const at = `tweets[${i}]`;
    checkId(tweet.id, `${at}.id`);
    checkId(tweet.authorId, `${at}.authorId`);
    checkId(tweet.conversationId, `${at}.conversationId`);
    checkId(tweet.inReplyToTweetId, `${at}.inReplyToTweetId`);
    checkId(tweet.inReplyToUserId, `${at}.inReplyToUserId`);
    checkId(tweet.quotedTweetId, `${at}.quotedTweetId`);
    checkId(tweet.retweetedTweetId, `${at}.retweetedTweetId`);
    tweet.editHistoryTweetIds?.forEach((id, j) => {
      checkId(id, `${at}.editHistoryTweetIds[${j}]`);
    });
    tweet.references?.forEach((reference, j) => {
      checkId(reference.id, `${at}.references[${j}].id`);
      if (!(REFERENCE_TYPES as readonly string[]).includes(reference.type)) {
        throw new InvalidPageError(
          `unknown reference type ${JSON.stringify(reference.type)}`,
          `${at}.references[${j}].type`,
        );
      }
    });
    for (const field of TWEET_COUNTS) checkCount(tweet[field], `${at}.${field}`);
  });
  page.tweetMedia.forEach((link, i) => {
    checkId(link.tweetId, `tweetMedia[${i}].tweetId`);
  });
  page.media.forEach((media, i) => {
    checkSize(media.width, `media[${i}].width`);
    checkSize(media.height, `media[${i}].height`);
    checkSize(media.durationMs, `media[${i}].durationMs`);
    checkCount(media.viewCount, `media[${i}].viewCount`);
    if (media.faces !== undefined) {
      for (const [size, rects] of Object.entries(media.faces)) {
        if (!FACE_SIZES.includes(size as FaceSize)) {
          throw new InvalidPageError(
            `unknown face size ${JSON.stringify(size)}`,
            `media[${i}].faces`,
          );
        }
        rects?.forEach((rect, j) => {
          checkRect(rect, `media[${i}].faces.${size}[${j}]`);
        });
      }
    }
    media.focusRects?.forEach((rect, j) => {
      checkRect(rect, `media[${i}].focusRects[${j}]`);
    });
  });
}

function combineTweets(a: CanonicalTweet, b: CanonicalTweet): CanonicalTweet {
  const merged = overlay(a, b);
  merged.fromTimeline = a.fromTimeline || b.fromTimeline;
  if (a.references !== undefined && b.references !== undefined) {
    const seen = new Map<string, TweetReference>();
    for (const reference of [...a.references, ...b.references]) {
      seen.set(`${reference.type}:${reference.id}`, reference);
    }
    merged.references = [...seen.values()];
  }
  return merged;
}

function combineMedia(a: CanonicalMedia, b: CanonicalMedia): CanonicalMedia {
  const merged = overlay(a, b);
  if (a.faces !== undefined && b.faces !== undefined) merged.faces = { ...a.faces, ...b.faces };
  return merged;
}

/** Validates the page, folds duplicate keys (ON CONFLICT cannot touch a row twice) and sorts. */
export function pageRows(page: CanonicalPage): PageRows {
  checkPage(page);
  const users = fold(page.users, (user) => user.id, overlay, compareIds);
  const tweets = fold(page.tweets, (tweet) => tweet.id, combineTweets, compareIds);
  const media = fold(page.media, (item) => item.mediaKey, combineMedia, compareText);
  const tweetMedia = fold(
    page.tweetMedia,
    (link) => `${link.tweetId.padStart(20, '0')}\u0000${link.mediaKey}`,
    (_a, b) => b,
    compareText,
  );
  const references = tweets.flatMap((tweet) =>
    (tweet.references ?? []).map((reference) => ({
      tweetId: tweet.id,
      type: reference.type,
      referencedTweetId: reference.id,
    })),
  );
  const faceSizesReported: PageRows['faceSizesReported'] = [];
  const faces: FaceRow[] = [];
  const focusRectsReported: PageRows['focusRectsReported'] = [];
  const focusRects: FocusRectRow[] = [];
  for (const item of media) {
    if (item.faces !== undefined) {
      for (const size of FACE_SIZES) {
        const rects = item.faces[size];
        if (rects === undefined) continue;
        faceSizesReported.push({ mediaKey: item.mediaKey, size, count: rects.length });
        rects.forEach((rect, idx) => {
          faces.push({ mediaKey: item.mediaKey, size, idx, rect });
        });
      }
    }
    if (item.focusRects !== undefined) {
      focusRectsReported.push({ mediaKey: item.mediaKey, count: item.focusRects.length });
      item.focusRects.forEach((rect, idx) => {
        focusRects.push({ mediaKey: item.mediaKey, idx, rect });
      });
    }
  }
  return {
    users,
    tweets,
    references,
    media,
    tweetMedia,
    faceSizesReported,
    faces,
    focusRectsReported,
    focusRects,
  };
}
