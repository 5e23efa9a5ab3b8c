import type {
  CanonicalMedia,
  CanonicalPage,
  CanonicalTweet,
  CanonicalUser,
  TweetReference,
} from '@birdfeed/model';
import { InvalidResponseError } from './errors.ts';
import { compact, type NormalizeContext, PageBuilder } from './page-builder.ts';
import { parseJsonBody, validateBody } from './schema-parse.ts';
import {
  type XMedia,
  type XTimelineBody,
  type XTweet,
  type XUser,
  type XUsersLookupBody,
  xTimelineBodySchema,
  xTweetLookupBodySchema,
  xUserLookupBodySchema,
  xUsersLookupBodySchema,
} from './x-schemas.ts';

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Validate an X timeline body (GET /2/users/:id/tweets, or any other page of tweets).
 * A single-tweet lookup (`data: {…}`) comes back with `data` as a one-element array.
 * Throws InvalidResponseError naming the JSON path of the first bad field.
 */
export function parseXTimeline(rawBody: string): XTimelineBody {
  return validateXTimeline(parseJsonBody('x', rawBody), rawBody);
}

export function validateXTimeline(json: unknown, rawBody: string): XTimelineBody {
  if (isPlainObject(json) && isPlainObject(json.data)) {
    const body = validateBody('x', xTweetLookupBodySchema, json, rawBody, 'X tweet body');
    return { ...body, data: body.data === undefined ? undefined : [body.data] };
  }
  // Every field of a page is optional (an empty page has no data, an error-only 200 no meta),
  // so without this any object, an agntdata body included, would pass as an empty page.
  if (isPlainObject(json) && !('data' in json) && !('meta' in json) && !('errors' in json)) {
    throw new InvalidResponseError(
      'x',
      'invalid X timeline body at $: none of data, meta or errors (not an X API v2 response?)',
      { path: '$', rawBody },
    );
  }
  return validateBody('x', xTimelineBodySchema, json, rawBody, 'X timeline body');
}

/** Validate an X user lookup body (`data: {…}` or `data: […]`); `data` comes back as an array. */
export function parseXUserLookup(rawBody: string): XUsersLookupBody {
  return validateXUserLookup(parseJsonBody('x', rawBody), rawBody);
}

export function validateXUserLookup(json: unknown, rawBody: string): XUsersLookupBody {
  if (isPlainObject(json) && isPlainObject(json.data)) {
    const body = validateBody('x', xUserLookupBodySchema, json, rawBody, 'X user body');
    return { ...body, data: body.data === undefined ? undefined : [body.data] };
  }
  return validateBody('x', xUsersLookupBodySchema, json, rawBody, 'X users body');
}

/**
 * Whether a parsed X body is a user lookup rather than a page of tweets: its `data` holds
 * users (a `username`, no `text`). Tweets always carry `text` (a default field).
 */
export function looksLikeXUserLookup(json: unknown): boolean {
  if (!isPlainObject(json)) return false;
  const first = Array.isArray(json.data) ? json.data[0] : json.data;
  return isPlainObject(first) && !('text' in first) && 'username' in first;
}

export function normalizeXTimeline(body: XTimelineBody, ctx: NormalizeContext): CanonicalPage {
  const builder = new PageBuilder();
  const data = body.data ?? [];
  for (const tweet of data) addTweet(builder, tweet, true);
  for (const tweet of body.includes?.tweets ?? []) addTweet(builder, tweet, false);
  for (const user of body.includes?.users ?? []) builder.addUser(normalizeXUser(user));
  for (const media of body.includes?.media ?? []) builder.addMedia(normalizeXMedia(media));
  addUnexpandedMedia(builder, [...data, ...(body.includes?.tweets ?? [])]);
  return builder.build('x', ctx, {
    timelineIds: data.map((tweet) => tweet.id),
    cursor: body.meta?.next_token ?? null,
    resultCount: body.meta?.result_count ?? data.length,
    partialErrors: body.errors ?? [],
  });
}

/**
 * A media key linked from a tweet but not expanded in includes still gets a row, so the
 * tweet_media link always has its media; every field stays undefined (unknown).
 */
function addUnexpandedMedia(builder: PageBuilder, tweets: readonly XTweet[]): void {
  for (const tweet of tweets) {
    for (const mediaKey of tweet.attachments?.media_keys ?? []) {
      if (!builder.hasMedia(mediaKey)) builder.addMedia({ mediaKey });
    }
  }
}

/** A user lookup body becomes a page of users (and their expanded pinned tweets, if any). */
export function normalizeXUserLookup(body: XUsersLookupBody, ctx: NormalizeContext): CanonicalPage {
  const builder = new PageBuilder();
  for (const user of body.data ?? []) builder.addUser(normalizeXUser(user));
  for (const user of body.includes?.users ?? []) builder.addUser(normalizeXUser(user));
  for (const tweet of body.includes?.tweets ?? []) addTweet(builder, tweet, false);
  for (const media of body.includes?.media ?? []) builder.addMedia(normalizeXMedia(media));
  addUnexpandedMedia(builder, body.includes?.tweets ?? []);
  return builder.build('x', ctx, {
    timelineIds: [],
    cursor: null,
    resultCount: 0,
    partialErrors: body.errors ?? [],
  });
}

function addTweet(builder: PageBuilder, tweet: XTweet, fromTimeline: boolean): void {
  builder.addTweet(normalizeXTweet(tweet, fromTimeline));
  tweet.attachments?.media_keys?.forEach((mediaKey, position) => {
    builder.addLink({ tweetId: tweet.id, mediaKey, position });
  });
}

export function normalizeXTweet(tweet: XTweet, fromTimeline: boolean): CanonicalTweet {
  const metrics = tweet.public_metrics;
  // X omits referenced_tweets when a tweet references nothing, and also when the field was
  // not requested; only a present list lets us say "none" (null) for the other two kinds.
  const references: TweetReference[] | undefined = tweet.referenced_tweets?.map((ref) => ({
    type: ref.type,
    id: ref.id,
  }));
  const referenceOf = (type: TweetReference['type']): string | null | undefined =>
    references === undefined
      ? undefined
      : (references.find((ref) => ref.type === type)?.id ?? null);
  return compact<CanonicalTweet>({
    id: tweet.id,
    authorId: tweet.author_id,
    createdAt: tweet.created_at === undefined ? undefined : new Date(tweet.created_at),
    // Tweets over 280 characters arrive truncated in `text`; `note_tweet.text` is the whole.
    text: tweet.note_tweet?.text ?? tweet.text,
    lang: tweet.lang,
    conversationId: tweet.conversation_id,
    inReplyToTweetId: referenceOf('replied_to'),
    inReplyToUserId: tweet.in_reply_to_user_id,
    quotedTweetId: referenceOf('quoted'),
    retweetedTweetId: referenceOf('retweeted'),
    source: tweet.source,
    possiblySensitive: tweet.possibly_sensitive,
    entities: tweet.note_tweet?.entities ?? tweet.entities,
    editHistoryTweetIds: tweet.edit_history_tweet_ids,
    references,
    likeCount: metrics?.like_count,
    retweetCount: metrics?.retweet_count,
    replyCount: metrics?.reply_count,
    quoteCount: metrics?.quote_count,
    bookmarkCount: metrics?.bookmark_count,
    impressionCount: metrics?.impression_count,
    // The seeds doc defines impression_count as "number of times this Tweet has been viewed":
    // the same figure agntdata calls `views`, so both land in view_count.
    viewCount: metrics?.impression_count,
    fromTimeline,
  });
}

export function normalizeXUser(user: XUser): CanonicalUser {
  const metrics = user.public_metrics;
  return compact<CanonicalUser>({
    id: user.id,
    username: user.username,
    name: user.name,
    description: user.description,
    location: user.location,
    url: user.url,
    profileImageUrl: user.profile_image_url,
    verified: user.verified,
    verifiedType: user.verified_type,
    protected: user.protected,
    createdAt: user.created_at === undefined ? undefined : new Date(user.created_at),
    followersCount: metrics?.followers_count,
    followingCount: metrics?.following_count,
    tweetCount: metrics?.tweet_count,
    listedCount: metrics?.listed_count,
    likeCount: metrics?.like_count,
  });
}

export function normalizeXMedia(media: XMedia): CanonicalMedia {
  // faces and focusRects stay undefined: X v2 does not report them, and undefined tells the
  // merge to keep what agntdata stored.
  return compact<CanonicalMedia>({
    mediaKey: media.media_key,
    type: media.type,
    url: media.url,
    previewImageUrl: media.preview_image_url,
    width: media.width,
    height: media.height,
    altText: media.alt_text,
    durationMs: media.duration_ms,
    viewCount: media.public_metrics?.view_count,
    variants: media.variants?.map((variant) =>
      compact({ url: variant.url, contentType: variant.content_type, bitRate: variant.bit_rate }),
    ),
  });
}
