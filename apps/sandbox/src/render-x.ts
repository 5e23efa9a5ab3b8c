import type { SandboxUser } from './accounts.ts';
import type { SandboxMedia } from './media.ts';
import type { TextEntities } from './text.ts';
import { mediaViewsAt, metricsAt, type SandboxTweet } from './tweets.ts';

/**
 * X API v2 objects. Only the default fields (tweet: id, text, edit_history_tweet_ids; user:
 * id, name, username; media: media_key, type) and the requested ones appear, as on X.
 * Field names accepted are those of the docs (../../shared/seeds/x-api-v2-users-id-tweets.txt)
 * and of the OpenAPI spec in the fixtures; anything else is a 400 as on X.
 */
const TWEET_FIELDS = new Set([
  'attachments',
  'author_id',
  'context_annotations',
  'conversation_id',
  'created_at',
  'edit_controls',
  'edit_history_tweet_ids',
  'entities',
  'geo',
  'id',
  'in_reply_to_user_id',
  'lang',
  'non_public_metrics',
  'note_tweet',
  'organic_metrics',
  'possibly_sensitive',
  'promoted_metrics',
  'public_metrics',
  'referenced_tweets',
  'reply_settings',
  'source',
  'text',
  'withheld',
  'article',
  'card_uri',
  'community_id',
  'display_text_range',
  'media_metadata',
  'scopes',
]);
const USER_FIELDS = new Set([
  'affiliation',
  'connection_status',
  'created_at',
  'description',
  'entities',
  'id',
  'location',
  'most_recent_tweet_id',
  'name',
  'parody',
  'pinned_tweet_id',
  'profile_banner_url',
  'profile_image_url',
  'protected',
  'public_metrics',
  'receives_your_dm',
  'subscription_type',
  'url',
  'username',
  'verified',
  'verified_followers_count',
  'verified_type',
  'withheld',
]);
const MEDIA_FIELDS = new Set([
  'alt_text',
  'duration_ms',
  'height',
  'media_key',
  'non_public_metrics',
  'organic_metrics',
  'preview_image_url',
  'promoted_metrics',
  'public_metrics',
  'type',
  'url',
  'variants',
  'width',
]);
const TWEET_EXPANSIONS = new Set([
  'attachments.media_keys',
  'attachments.poll_ids',
  'author_id',
  'edit_history_tweet_ids',
  'entities.mentions.username',
  'geo.place_id',
  'in_reply_to_user_id',
  'referenced_tweets.id',
  'referenced_tweets.id.author_id',
  'attachments.media_source_tweet',
]);
const USER_EXPANSIONS = new Set(['pinned_tweet_id', 'most_recent_tweet_id', 'affiliation']);
const PLACE_FIELDS = new Set([
  'contained_within',
  'country',
  'country_code',
  'full_name',
  'geo',
  'id',
  'name',
  'place_type',
]);
const POLL_FIELDS = new Set(['duration_minutes', 'end_datetime', 'id', 'options', 'voting_status']);

export interface XSelection {
  tweet: Set<string>;
  user: Set<string>;
  media: Set<string>;
  expansions: Set<string>;
}

export interface XParameterError {
  parameter: string;
  value: string;
  message: string;
}

function list(query: URLSearchParams, name: string): string[] {
  const value = query.get(name);
  if (value === null || value === '') return [];
  return value.split(',');
}

/** Reads the fields and expansions of a request; the first unknown value is a 400 on X. */
export function parseXSelection(
  query: URLSearchParams,
  kind: 'tweets' | 'users',
): XSelection | XParameterError {
  const checks: [string, Set<string>][] = [
    ['tweet.fields', TWEET_FIELDS],
    ['user.fields', USER_FIELDS],
    ['media.fields', MEDIA_FIELDS],
    ['place.fields', PLACE_FIELDS],
    ['poll.fields', POLL_FIELDS],
    ['expansions', kind === 'tweets' ? TWEET_EXPANSIONS : USER_EXPANSIONS],
  ];
  const selection: XSelection = {
    tweet: new Set(),
    user: new Set(),
    media: new Set(),
    expansions: new Set(),
  };
  for (const [parameter, allowed] of checks) {
    for (const value of list(query, parameter)) {
      if (!allowed.has(value)) {
        return {
          parameter,
          value,
          message: `The \`${parameter}\` query parameter value [${value}] is not one of [${[...allowed].join(',')}]`,
        };
      }
      if (parameter === 'tweet.fields') selection.tweet.add(value);
      else if (parameter === 'user.fields') selection.user.add(value);
      else if (parameter === 'media.fields') selection.media.add(value);
      else if (parameter === 'expansions') selection.expansions.add(value);
    }
  }
  return selection;
}

export function isoDate(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString();
}

function xEntities(entities: TextEntities): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  if (entities.urls.length > 0) out.urls = entities.urls;
  if (entities.hashtags.length > 0) out.hashtags = entities.hashtags;
  if (entities.mentions.length > 0) out.mentions = entities.mentions;
  return Object.keys(out).length > 0 ? out : undefined;
}

export function renderXTweet(
  tweet: SandboxTweet,
  fields: Set<string>,
  nowMs: number,
): Record<string, unknown> {
  const out: Record<string, unknown> = {
    edit_history_tweet_ids: [tweet.id],
    id: tweet.id,
    text: tweet.text,
  };
  if (fields.size === 0) return out;
  if (fields.has('attachments') && tweet.media.length > 0) {
    out.attachments = { media_keys: tweet.media.map((media) => media.mediaKey) };
  }
  if (fields.has('author_id')) out.author_id = tweet.author.id;
  if (fields.has('conversation_id')) out.conversation_id = tweet.conversationId;
  if (fields.has('created_at')) out.created_at = isoDate(tweet.createdAtMs);
  if (fields.has('edit_controls')) {
    out.edit_controls = {
      edits_remaining: 5,
      is_edit_eligible: tweet.kind !== 'retweet',
      editable_until: new Date(
        Math.floor(tweet.createdAtMs / 1000) * 1000 + 3_600_000,
      ).toISOString(),
    };
  }
  if (fields.has('entities')) {
    const entities = xEntities(tweet.entities);
    if (entities !== undefined) out.entities = entities;
  }
  if (fields.has('in_reply_to_user_id') && tweet.inReplyToUserId !== null) {
    out.in_reply_to_user_id = tweet.inReplyToUserId;
  }
  if (fields.has('lang')) out.lang = tweet.lang;
  if (fields.has('possibly_sensitive')) out.possibly_sensitive = tweet.possiblySensitive;
  if (fields.has('public_metrics')) out.public_metrics = metricsAt(tweet, nowMs);
  if (fields.has('referenced_tweets') && tweet.referenced !== null) {
    out.referenced_tweets = [{ type: tweet.referenced.type, id: tweet.referenced.tweet.id }];
  }
  if (fields.has('reply_settings')) out.reply_settings = tweet.replySettings;
  if (fields.has('source')) out.source = tweet.source;
  if (fields.has('note_tweet') && tweet.note !== null) {
    const entities = xEntities(tweet.note.entities);
    out.note_tweet =
      entities === undefined ? { text: tweet.note.text } : { text: tweet.note.text, entities };
  }
  return out;
}

export function renderXUser(
  user: SandboxUser,
  fields: Set<string>,
  metrics: Record<string, number>,
  mostRecentTweetId: string | null,
): Record<string, unknown> {
  const out: Record<string, unknown> = { id: user.id, name: user.name, username: user.username };
  if (fields.size === 0) return out;
  if (fields.has('created_at')) out.created_at = isoDate(user.createdAtMs);
  if (fields.has('description')) out.description = user.description;
  if (fields.has('location') && user.location !== '') out.location = user.location;
  if (fields.has('profile_image_url')) out.profile_image_url = user.profileImageUrl;
  if (fields.has('protected')) out.protected = 'status' in user && user.status === 'protected';
  if (fields.has('public_metrics')) out.public_metrics = metrics;
  if (fields.has('url')) out.url = user.url ?? '';
  if (fields.has('verified')) out.verified = user.verified;
  if (fields.has('verified_type')) out.verified_type = user.verifiedType;
  if (fields.has('most_recent_tweet_id') && mostRecentTweetId !== null) {
    out.most_recent_tweet_id = mostRecentTweetId;
  }
  return out;
}

export function renderXMedia(
  tweet: SandboxTweet,
  media: SandboxMedia,
  fields: Set<string>,
  nowMs: number,
): Record<string, unknown> {
  const out: Record<string, unknown> = { media_key: media.mediaKey, type: media.type };
  if (fields.size === 0) return out;
  if (fields.has('url') && media.type === 'photo') out.url = media.imageUrl;
  if (fields.has('preview_image_url') && media.type !== 'photo')
    out.preview_image_url = media.imageUrl;
  if (fields.has('width')) out.width = media.width;
  if (fields.has('height')) out.height = media.height;
  if (fields.has('duration_ms') && media.durationMs !== null) out.duration_ms = media.durationMs;
  if (fields.has('alt_text') && media.altText !== null) out.alt_text = media.altText;
  if (fields.has('public_metrics') && media.type === 'video') {
    out.public_metrics = { view_count: mediaViewsAt(tweet, media, nowMs) };
  }
  if (fields.has('variants') && media.variants !== null) out.variants = media.variants;
  return out;
}
