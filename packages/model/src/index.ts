/**
 * The canonical page: what one provider response becomes after normalization, whatever the
 * provider. `packages/providers` produces it, `packages/db` consumes it; neither knows the other.
 *
 * Ids are decimal strings. Snowflakes exceed 2^53, so a JS number would silently round them.
 *
 * Optional fields follow one rule: `undefined` means "this provider did not say", `null`
 * means "the provider said there is none". The merge in packages/db keeps a stored value when
 * a new observation leaves a field undefined (X v2 has no faces, agntdata has no alt_text).
 */

/** A snowflake id as its decimal string, e.g. "1925089021710983421". */
export type SnowflakeId = string;

export type ProviderName = 'x' | 'agntdata';
export const PROVIDER_NAMES: readonly ProviderName[] = ['x', 'agntdata'];

export interface UserMetrics {
  followersCount?: number | undefined;
  followingCount?: number | undefined;
  tweetCount?: number | undefined;
  listedCount?: number | undefined;
  likeCount?: number | undefined;
}

export interface CanonicalUser extends UserMetrics {
  id: SnowflakeId;
  username?: string | undefined;
  name?: string | undefined;
  description?: string | null | undefined;
  location?: string | null | undefined;
  url?: string | null | undefined;
  profileImageUrl?: string | null | undefined;
  verified?: boolean | null | undefined;
  verifiedType?: string | null | undefined;
  protected?: boolean | null | undefined;
  createdAt?: Date | undefined;
}

export interface TweetMetrics {
  likeCount?: number | undefined;
  retweetCount?: number | undefined;
  replyCount?: number | undefined;
  quoteCount?: number | undefined;
  bookmarkCount?: number | undefined;
  impressionCount?: number | undefined;
  viewCount?: number | undefined;
}

/**
 * How one tweet references another, as X v2 names it (`referenced_tweets[].type`). The
 * `tweet_references.type` column holds these and only these (a CHECK constraint).
 */
export const REFERENCE_TYPES = ['replied_to', 'quoted', 'retweeted'] as const;
export type ReferenceType = (typeof REFERENCE_TYPES)[number];

export interface TweetReference {
  type: ReferenceType;
  id: SnowflakeId;
}

export interface CanonicalTweet extends TweetMetrics {
  id: SnowflakeId;
  authorId?: SnowflakeId | undefined;
  createdAt?: Date | undefined;
  text?: string | undefined;
  lang?: string | null | undefined;
  conversationId?: SnowflakeId | null | undefined;
  inReplyToTweetId?: SnowflakeId | null | undefined;
  inReplyToUserId?: SnowflakeId | null | undefined;
  quotedTweetId?: SnowflakeId | null | undefined;
  retweetedTweetId?: SnowflakeId | null | undefined;
  source?: string | null | undefined;
  possiblySensitive?: boolean | null | undefined;
  /** Entities (urls, mentions, hashtags…) as the provider sent them. */
  entities?: unknown;
  editHistoryTweetIds?: SnowflakeId[] | undefined;
  /** References this tweet makes (reply/quote/retweet). */
  references?: TweetReference[] | undefined;
  /**
   * True when this tweet is one of the timeline's own results; false when it only arrived
   * inside another (a quoted/retweeted/replied-to tweet from `includes.tweets`, `quoted_status`…).
   */
  fromTimeline: boolean;
}

export type MediaType = 'photo' | 'video' | 'animated_gif' | (string & {});

/**
 * The renditions face boxes are reported for (DESIGN.md's SQL contract): `media_faces.size`
 * holds these and only these (a CHECK constraint). agntdata's `features` may name others one
 * day: their boxes are not stored (the raw body keeps them) rather than the page refused.
 */
export const FACE_SIZES = ['orig', 'large', 'medium', 'small'] as const;
export type FaceSize = (typeof FACE_SIZES)[number];

export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface MediaVariant {
  url: string;
  contentType?: string | undefined;
  bitRate?: number | undefined;
}

export interface CanonicalMedia {
  mediaKey: string;
  type?: MediaType | undefined;
  url?: string | null | undefined;
  previewImageUrl?: string | null | undefined;
  width?: number | null | undefined;
  height?: number | null | undefined;
  altText?: string | null | undefined;
  durationMs?: number | null | undefined;
  viewCount?: number | null | undefined;
  variants?: MediaVariant[] | undefined;
  /** The provider's `sizes` object as sent ({large:{w,h,resize}, …}). */
  sizes?: Record<string, unknown> | undefined;
  /**
   * Faces per size. A size absent from the map was not reported; a size present with an
   * empty array was reported with no faces. `undefined` (X v2) = faces unknown.
   */
  faces?: Partial<Record<FaceSize, Rect[]>> | undefined;
  /** `undefined` = not reported (X v2); `[]` = reported, none. */
  focusRects?: Rect[] | undefined;
}

export interface TweetMediaLink {
  tweetId: SnowflakeId;
  mediaKey: string;
  /** 0-based order of the media inside the tweet. */
  position: number;
}

export interface PageCursor {
  /** Opaque token for the next (older) page; null when this is the last page. */
  next: string | null;
}

export interface CanonicalPage {
  provider: ProviderName;
  /** The account whose timeline this page belongs to. */
  userId: SnowflakeId;
  /** When the page was fetched: the `observed_at` of every metric on it. */
  observedAt: Date;
  tweets: CanonicalTweet[];
  users: CanonicalUser[];
  media: CanonicalMedia[];
  tweetMedia: TweetMediaLink[];
  cursor: PageCursor;
  /** Newest / oldest id among the timeline's own results on this page (null when empty). */
  newestId: SnowflakeId | null;
  oldestId: SnowflakeId | null;
  /**
   * The timeline's last result in the order the provider listed them (null when empty; absent
   * from pages built before it existed). Newest first, it is `oldestId`; it differs when a page
   * lists an older item first, as a pinned tweet would be.
   */
  lastId?: SnowflakeId | null | undefined;
  /** The provider's own count of results on the page (X `meta.result_count`). */
  resultCount: number;
  /** Errors the provider put beside the data (X `errors[]`), kept as sent. */
  partialErrors: unknown[];
}

/** Compare two snowflake ids numerically without passing through a JS number. */
export function compareIds(a: SnowflakeId, b: SnowflakeId): number {
  // Without a leading zero (as every id the schemas accept), decimals order by length, then
  // digit by digit: no BigInt allocated for each of the hundreds of comparisons a page takes.
  if (noLeadingZero(a) && noLeadingZero(b)) {
    return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
  }
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function noLeadingZero(value: string): boolean {
  return value.length === 1 || (value.length > 1 && value[0] !== '0');
}

/** The decimal form every snowflake id takes: 1 to 19 digits, no sign, no leading zero. */
export const SNOWFLAKE_PATTERN = /^(0|[1-9][0-9]{0,18})$/;

/** Largest value a Postgres bigint holds; ids above it would not round-trip. */
export const MAX_BIGINT = 9223372036854775807n;

const MAX_BIGINT_TEXT = MAX_BIGINT.toString();

export function isSnowflakeId(value: string): boolean {
  // At 19 digits without a leading zero, text order is numeric order: no BigInt needed.
  return (
    SNOWFLAKE_PATTERN.test(value) &&
    (value.length < MAX_BIGINT_TEXT.length || value <= MAX_BIGINT_TEXT)
  );
}

/**
 * Why `value` is not a snowflake id ({@link isSnowflakeId}), or undefined when it is one: the
 * CLI's id arguments and the raw-body schemas say this one reason, where a list of every rule
 * told `007` to use digits only. It reads after the value: `"007" has a leading zero`.
 */
export function snowflakeIdProblem(value: string): string | undefined {
  if (isSnowflakeId(value)) return undefined;
  if (!/^[0-9]+$/.test(value)) return 'is not a decimal number (digits 0-9 only)';
  if (value.startsWith('0')) return 'has a leading zero';
  return `is larger than ${MAX_BIGINT_TEXT}, the largest bigint (int64)`;
}

/**
 * A date whose day exists and whose time is on the clock. `Date` rolls the rest over without
 * a word: 2021-02-30 becomes 2021-03-02, and a tweet would be stored as posted on another day.
 */
export function isCalendarDate(
  year: number,
  month: number,
  day: number,
  hours = 0,
  minutes = 0,
  seconds = 0,
): boolean {
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return (
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysInMonth &&
    hours <= 23 &&
    minutes <= 59 &&
    seconds <= 60
  );
}

/**
 * The codes Node's net and dns give a connection that was refused, lost or never reached (what
 * both a Postgres and a Redis client raise when their server is away).
 */
export const CONNECTION_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);

/**
 * An error and the errors it wraps, outermost first (`cause` after `cause`, at most `depth`):
 * drizzle puts the driver's error, the one that says what went wrong, in `cause`.
 */
export function errorChain(error: unknown, depth = 5): Error[] {
  const chain: Error[] = [];
  for (let at = error; at instanceof Error && chain.length < depth; at = at.cause) chain.push(at);
  return chain;
}
