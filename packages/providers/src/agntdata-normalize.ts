import {
  type CanonicalMedia,
  type CanonicalPage,
  type CanonicalTweet,
  type CanonicalUser,
  FACE_SIZES,
  type FaceSize,
  type Rect,
  type TweetReference,
} from '@birdfeed/model';
import {
  AGNTDATA_DATE_PATTERN,
  type AgntdataEmbeddedTweet,
  type AgntdataMedia,
  type AgntdataMediasBody,
  type AgntdataUser,
  agntdataEnvelopeSchema,
  agntdataMediasBodySchema,
} from './agntdata-schemas.ts';
import { compact, type NormalizeContext, PageBuilder } from './page-builder.ts';
import { parseJsonBody, validateBody } from './schema-parse.ts';

export interface ParsedAgntdataMedias {
  /** The bare body, unwrapped from the envelope when there was one. */
  body: AgntdataMediasBody;
  /** Whether it came inside `{success, data, meta}`. */
  enveloped: boolean;
  /** `meta.costCents` of the envelope, when it said. */
  costCents: number | undefined;
}

/**
 * Validate an agntdata `user/medias` body, bare (`{results, continuation_token}`) or enveloped
 * (`{success, data:{…}, meta:{costCents}}`). Throws InvalidResponseError naming the JSON path.
 */
export function parseAgntdataMedias(rawBody: string): ParsedAgntdataMedias {
  return validateAgntdataMedias(parseJsonBody('agntdata', rawBody), rawBody);
}

export function validateAgntdataMedias(json: unknown, rawBody: string): ParsedAgntdataMedias {
  const isEnvelope =
    typeof json === 'object' &&
    json !== null &&
    !Array.isArray(json) &&
    !('results' in json) &&
    ('data' in json || 'success' in json);
  if (isEnvelope) {
    const envelope = validateBody(
      'agntdata',
      agntdataEnvelopeSchema,
      json,
      rawBody,
      'agntdata envelope',
    );
    return { body: envelope.data, enveloped: true, costCents: envelope.meta?.costCents };
  }
  const body = validateBody(
    'agntdata',
    agntdataMediasBodySchema,
    json,
    rawBody,
    'agntdata user/medias body',
  );
  return { body, enveloped: false, costCents: undefined };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** "Wed May 21 07:19:23 +0000 2025" → Date, without trusting Date.parse's lenient heuristics. */
export function parseAgntdataDate(value: string): Date {
  const match = AGNTDATA_DATE_PATTERN.exec(value);
  if (match === null) throw new RangeError(`not an agntdata date: ${JSON.stringify(value)}`);
  const [, , month, day, hh, mm, ss, offset, year] = match;
  const monthNumber = String(MONTHS.indexOf(month!) + 1).padStart(2, '0');
  const zone = `${offset!.slice(0, 3)}:${offset!.slice(3)}`;
  return new Date(`${year}-${monthNumber}-${day}T${hh}:${mm}:${ss}${zone}`);
}

/**
 * Everything in a result becomes rows: the tweet, its author, its media with faces and focus
 * rects, and the retweeted/quoted tweets embedded in it (`fromTimeline: false`).
 */
export function normalizeAgntdataMedias(
  body: AgntdataMediasBody,
  ctx: NormalizeContext,
): CanonicalPage {
  const builder = new PageBuilder();
  for (const result of body.results) {
    addTweet(builder, result, true);
    if (result.retweet_status) addTweet(builder, result.retweet_status, false);
    if (result.quoted_status) addTweet(builder, result.quoted_status, false);
  }
  // An empty page with a token is not the end of the list: the crawl step decides how many
  // such pages (each billed) it follows (EMPTY_PAGES_BEFORE_END).
  const cursor = body.continuation_token || null;
  return builder.build('agntdata', ctx, {
    timelineIds: body.results.map((result) => result.tweet_id),
    cursor,
    resultCount: body.results.length,
    partialErrors: [],
  });
}

function addTweet(builder: PageBuilder, tweet: AgntdataEmbeddedTweet, fromTimeline: boolean) {
  builder.addTweet(normalizeAgntdataTweet(tweet, fromTimeline));
  if (tweet.user) builder.addUser(normalizeAgntdataUser(tweet.user));
  const items = tweet.extended_entities?.media ?? [];
  // The tweet-level `video_view_count` (documented, null for photos) belongs to its video when
  // there is exactly one: X counts views per video.
  const videos = items.filter((raw) => raw.type !== 'photo');
  const tweetVideoViews = videos.length === 1 ? (tweet.video_view_count ?? undefined) : undefined;
  items.forEach((raw, position) => {
    const media = normalizeAgntdataMedia(raw, raw.type === 'photo' ? undefined : tweetVideoViews);
    builder.addMedia(media);
    builder.addLink({ tweetId: tweet.tweet_id, mediaKey: media.mediaKey, position });
  });
}

export function normalizeAgntdataTweet(
  tweet: AgntdataEmbeddedTweet,
  fromTimeline: boolean,
): CanonicalTweet {
  // null stays null ("none"), a missing key stays undefined ("not said").
  const inReplyTo = tweet.in_reply_to_status_id;
  const quoted = tweet.quoted_status_id;
  const retweeted = tweet.retweet_tweet_id;
  // Only when the body says something about every kind can it say "no references".
  const saysAll = inReplyTo !== undefined && quoted !== undefined && retweeted !== undefined;
  const found: TweetReference[] = [];
  if (inReplyTo) found.push({ type: 'replied_to', id: inReplyTo });
  if (quoted) found.push({ type: 'quoted', id: quoted });
  if (retweeted) found.push({ type: 'retweeted', id: retweeted });
  const createdAt = tweet.creation_date
    ? parseAgntdataDate(tweet.creation_date)
    : typeof tweet.timestamp === 'number'
      ? new Date(tweet.timestamp * 1000)
      : undefined;
  return compact<CanonicalTweet>({
    id: tweet.tweet_id,
    authorId: tweet.user?.user_id ?? undefined,
    createdAt,
    text: tweet.text ?? undefined,
    lang: tweet.language,
    conversationId: tweet.conversation_id,
    inReplyToTweetId: inReplyTo,
    inReplyToUserId: tweet.in_reply_to_user_id,
    quotedTweetId: quoted,
    retweetedTweetId: retweeted,
    source: tweet.source,
    references: found.length > 0 || saysAll ? found : undefined,
    likeCount: tweet.favorite_count ?? undefined,
    retweetCount: tweet.retweet_count ?? undefined,
    replyCount: tweet.reply_count ?? undefined,
    quoteCount: tweet.quote_count ?? undefined,
    bookmarkCount: tweet.bookmark_count ?? undefined,
    viewCount: tweet.views ?? undefined,
    fromTimeline,
  });
}

export function normalizeAgntdataUser(user: AgntdataUser): CanonicalUser {
  const blue = user.is_blue_verified ?? undefined;
  const legacy = user.is_verified ?? undefined;
  // X v2's `verified` is true for any checkmark, blue included; agntdata splits the two.
  const verified =
    blue === undefined && legacy === undefined ? undefined : blue === true || legacy === true;
  // agntdata spells X's types as GraphQL does (`Business`, `Government`); X v2 lower-cases them.
  const verifiedType = user.verified_type?.toLowerCase() ?? (blue === true ? 'blue' : undefined);
  return compact<CanonicalUser>({
    id: user.user_id,
    username: user.username ?? undefined,
    name: user.name ?? undefined,
    description: user.description,
    location: user.location,
    url: user.external_url,
    profileImageUrl: user.profile_pic_url,
    verified,
    verifiedType,
    // is_private is null in the documented example for a public account: null = not said.
    protected: user.is_private ?? undefined,
    createdAt: user.creation_date ? parseAgntdataDate(user.creation_date) : undefined,
    followersCount: user.follower_count ?? undefined,
    followingCount: user.following_count ?? undefined,
    tweetCount: user.number_of_tweets ?? undefined,
    listedCount: user.listed_count ?? undefined,
    likeCount: user.favourites_count ?? undefined,
  });
}

const MEDIA_KEY_PREFIX: Record<string, string> = { photo: '3', video: '7', animated_gif: '16' };

function toRect(rect: { x: number; y: number; w: number; h: number }): Rect {
  return { x: rect.x, y: rect.y, w: rect.w, h: rect.h };
}

export function normalizeAgntdataMedia(
  media: AgntdataMedia,
  /** The tweet's `video_view_count`, when this is its one video. */
  videoViewCount?: number,
): CanonicalMedia {
  const mediaKey = media.media_key ?? `${MEDIA_KEY_PREFIX[media.type] ?? '3'}_${media.id_str}`;
  let faces: Partial<Record<FaceSize, Rect[]>> | undefined;
  if (media.features) {
    faces = {};
    for (const size of FACE_SIZES) {
      const set = media.features[size];
      // A size present without a faces list was reported with no faces.
      if (set) faces[size] = (set.faces ?? []).map(toRect);
    }
  }
  const focusRects = media.original_info?.focus_rects?.map(toRect);
  const isPhoto = media.type === 'photo';
  const video = media.video_info ?? undefined;
  return compact<CanonicalMedia>({
    mediaKey,
    type: media.type,
    // Same split as X v2: a photo's image is its url; a video's/GIF's is its preview.
    url: isPhoto ? (media.media_url_https ?? undefined) : undefined,
    previewImageUrl: isPhoto ? undefined : (media.media_url_https ?? undefined),
    width: media.original_info?.width ?? undefined,
    height: media.original_info?.height ?? undefined,
    altText: media.ext_alt_text ?? undefined,
    durationMs: video?.duration_millis ?? undefined,
    viewCount: media.mediaStats?.viewCount ?? videoViewCount,
    variants: video?.variants?.map((variant) =>
      compact({
        url: variant.url,
        contentType: variant.content_type ?? undefined,
        bitRate: variant.bitrate ?? undefined,
      }),
    ),
    sizes: media.sizes ?? undefined,
    faces,
    focusRects,
  });
}
