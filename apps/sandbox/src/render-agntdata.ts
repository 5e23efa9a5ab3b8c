import type { SandboxUser } from './accounts.ts';
import type { SandboxMedia } from './media.ts';
import { mediaViewsAt, metricsAt, type SandboxTweet } from './tweets.ts';

/**
 * agntdata's flattened tweet, field for field as in
 * ../../shared/fixtures/real/agntdata/user_medias_docs_example.json (legacy v1.1-style media
 * with `sizes`, `original_info.focus_rects` and `features.*.faces`).
 */
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** "Wed May 21 07:19:23 +0000 2025" */
export function twitterDate(ms: number): string {
  const date = new Date(ms);
  const pad = (value: number) => String(value).padStart(2, '0');
  return `${DAYS[date.getUTCDay()]} ${MONTHS[date.getUTCMonth()]} ${pad(date.getUTCDate())} ${pad(
    date.getUTCHours(),
  )}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000 ${date.getUTCFullYear()}`;
}

export function renderAgntdataUser(
  user: SandboxUser,
  metrics: {
    followers_count: number;
    following_count: number;
    tweet_count: number;
    listed_count: number;
    like_count: number;
  },
  isPrivate: boolean,
): Record<string, unknown> {
  return {
    creation_date: twitterDate(user.createdAtMs),
    user_id: user.id,
    username: user.username,
    name: user.name,
    follower_count: metrics.followers_count,
    following_count: metrics.following_count,
    favourites_count: metrics.like_count,
    is_private: isPrivate ? true : null,
    is_verified: user.verifiedType === 'business',
    is_blue_verified: user.verifiedType !== 'none',
    location: user.location,
    profile_pic_url: user.profileImageUrl,
    profile_banner_url: null,
    description: user.description,
    external_url: user.url,
    number_of_tweets: metrics.tweet_count,
    bot: false,
    timestamp: Math.floor(user.createdAtMs / 1000),
    has_nft_avatar: false,
    category: null,
    default_profile: null,
    default_profile_image: null,
    listed_count: metrics.listed_count,
    verified_type: user.verifiedType === 'business' ? 'Business' : null,
  };
}

function renderMedia(
  tweet: SandboxTweet,
  media: SandboxMedia,
  tco: { url: string; start: number; end: number } | undefined,
  nowMs: number,
): Record<string, unknown> {
  const kindPath = media.type === 'photo' ? 'photo' : 'video';
  const expanded = `https://x.com/${tweet.author.username}/status/${tweet.id}/${kindPath}/1`;
  const out: Record<string, unknown> = {
    display_url: `pic.x.com/${(tco?.url ?? 'https://t.co/unknown').slice(13)}`,
    expanded_url: expanded,
    id_str: media.id,
    indices: tco === undefined ? [0, 0] : [tco.start, tco.end],
    media_key: media.mediaKey,
    media_url_https: media.imageUrl,
    type: media.type,
    url: tco?.url ?? '',
    ext_media_availability: { status: 'Available' },
  };
  if (media.type === 'photo') {
    out.features = {
      large: { faces: media.faces.large },
      medium: { faces: media.faces.medium },
      small: { faces: media.faces.small },
      orig: { faces: media.faces.orig },
    };
  }
  out.sizes = media.sizes;
  out.original_info = { height: media.height, width: media.width, focus_rects: media.focusRects };
  if (media.variants !== null) {
    const divisor = gcd(media.width, media.height);
    out.video_info = {
      aspect_ratio: [media.width / divisor, media.height / divisor],
      ...(media.durationMs === null ? {} : { duration_millis: media.durationMs }),
      variants: media.variants.map((variant) => ({
        ...(variant.bit_rate === undefined ? {} : { bitrate: variant.bit_rate }),
        content_type: variant.content_type,
        url: variant.url,
      })),
    };
    if (media.type === 'video') out.mediaStats = { viewCount: mediaViewsAt(tweet, media, nowMs) };
  }
  out.media_results = { result: { media_key: media.mediaKey } };
  return out;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

export function renderAgntdataTweet(
  tweet: SandboxTweet,
  user: unknown,
  nowMs: number,
): Record<string, unknown> {
  const metrics = metricsAt(tweet, nowMs);
  const mediaLink = tweet.entities.urls.find((url) => url.media_key !== undefined);
  const video = tweet.media.find((media) => media.variants !== null);
  const first = tweet.media[0];
  const kindPath = first?.type === 'photo' ? 'photo' : 'video';
  return {
    tweet_id: tweet.id,
    creation_date: twitterDate(tweet.createdAtMs),
    text: tweet.note?.text ?? tweet.text,
    media_url: tweet.media.filter((media) => media.type === 'photo').map((media) => media.imageUrl),
    video_url:
      video?.variants?.map((variant) => ({
        ...(variant.bit_rate === undefined ? {} : { bitrate: variant.bit_rate }),
        content_type: variant.content_type,
        url: variant.url,
      })) ?? null,
    user,
    language: tweet.lang,
    favorite_count: metrics.like_count,
    retweet_count: metrics.retweet_count,
    reply_count: metrics.reply_count,
    quote_count: metrics.quote_count,
    retweet: false,
    views: metrics.impression_count,
    timestamp: Math.floor(tweet.createdAtMs / 1000),
    video_view_count: video?.type === 'video' ? mediaViewsAt(tweet, video, nowMs) : null,
    in_reply_to_status_id:
      tweet.referenced?.type === 'replied_to' ? tweet.referenced.tweet.id : null,
    quoted_status_id: tweet.referenced?.type === 'quoted' ? tweet.referenced.tweet.id : null,
    binding_values: null,
    expanded_url: `https://x.com/${tweet.author.username}/status/${tweet.id}/${kindPath}/1`,
    retweet_tweet_id: null,
    extended_entities: {
      media: tweet.media.map((media) => renderMedia(tweet, media, mediaLink, nowMs)),
    },
    conversation_id: tweet.conversationId,
    retweet_status: null,
    quoted_status: null,
    bookmark_count: metrics.bookmark_count,
    source: tweet.source,
    community_note: null,
  };
}
