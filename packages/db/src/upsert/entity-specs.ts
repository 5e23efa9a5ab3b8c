import type { CanonicalMedia, CanonicalTweet, CanonicalUser } from '@birdfeed/model';
import type { EntityTable } from './unnest-upsert.ts';

export const usersTable: EntityTable<CanonicalUser> = {
  table: 'users',
  key: { name: 'id', type: 'bigint', value: (u) => u.id },
  merged: [
    { name: 'username', type: 'text', value: (u) => u.username },
    { name: 'name', type: 'text', value: (u) => u.name },
    { name: 'description', type: 'text', value: (u) => u.description },
    { name: 'location', type: 'text', value: (u) => u.location },
    { name: 'url', type: 'text', value: (u) => u.url },
    { name: 'profile_image_url', type: 'text', value: (u) => u.profileImageUrl },
    { name: 'followers_count', type: 'bigint', value: (u) => u.followersCount, metric: true },
    { name: 'following_count', type: 'bigint', value: (u) => u.followingCount, metric: true },
    { name: 'tweet_count', type: 'bigint', value: (u) => u.tweetCount, metric: true },
    { name: 'listed_count', type: 'bigint', value: (u) => u.listedCount, metric: true },
    { name: 'like_count', type: 'bigint', value: (u) => u.likeCount, metric: true },
    { name: 'verified', type: 'boolean', value: (u) => u.verified },
    { name: 'verified_type', type: 'text', value: (u) => u.verifiedType },
    { name: 'protected', type: 'boolean', value: (u) => u.protected },
    { name: 'created_at', type: 'timestamptz', value: (u) => u.createdAt },
  ],
  metricsClock: 'metrics_observed_at',
};

/**
 * A text as X cuts it, back to the cut: without a trailing t.co link and a trailing ellipsis.
 * (The whole text of a post whose cut text is C starts with cut(C), and is longer.)
 */
const cut = (text: string) =>
  `rtrim(regexp_replace(regexp_replace(${text}, '\\s*https://t\\.co/\\S+\\s*$', ''), '(…|\\.\\.\\.)\\s*$', ''))`;

/**
 * Whether the observation's text wins. A tweet's text never changes (an edit is a new tweet
 * id), so two texts differ where one was cut: X's `text` of a post over 280 characters without
 * `note_tweet` (a response that did not ask for it, an archive), ending "… https://t.co/…". The
 * whole text wins whichever observation is newer: the one that starts with the other's text up
 * to its cut and goes on past it. Otherwise (the same text, or texts that differ some other
 * way) the newer wins, as for any field.
 */
const TEXT_WINS = `case
  when excluded.text is null or t.text is null or excluded.text = t.text
    then excluded.observed_at > t.observed_at
  when char_length(${cut('t.text')}) < char_length(excluded.text)
    and starts_with(excluded.text, ${cut('t.text')}) then true
  when char_length(${cut('excluded.text')}) < char_length(t.text)
    and starts_with(t.text, ${cut('excluded.text')}) then false
  else excluded.observed_at > t.observed_at end`;

/**
 * The entities index the text: where the two texts differ they come with the winning one,
 * never filled in from the other (offsets into a cut text point into the middle of the whole).
 */
const ENTITIES_FOLLOW_TEXT = (merged: string) => `case
  when excluded.text is not null and t.text is not null and excluded.text <> t.text
    then case when ${TEXT_WINS} then excluded.entities else t.entities end
  else ${merged} end`;

export const tweetsTable: EntityTable<CanonicalTweet> = {
  table: 'tweets',
  key: { name: 'id', type: 'bigint', value: (t) => t.id },
  merged: [
    { name: 'author_id', type: 'bigint', value: (t) => t.authorId },
    { name: 'created_at', type: 'timestamptz', value: (t) => t.createdAt },
    { name: 'text', type: 'text', value: (t) => t.text, winsWhen: TEXT_WINS },
    { name: 'lang', type: 'text', value: (t) => t.lang },
    { name: 'conversation_id', type: 'bigint', value: (t) => t.conversationId },
    { name: 'in_reply_to_tweet_id', type: 'bigint', value: (t) => t.inReplyToTweetId },
    { name: 'in_reply_to_user_id', type: 'bigint', value: (t) => t.inReplyToUserId },
    { name: 'quoted_tweet_id', type: 'bigint', value: (t) => t.quotedTweetId },
    { name: 'retweeted_tweet_id', type: 'bigint', value: (t) => t.retweetedTweetId },
    { name: 'like_count', type: 'bigint', value: (t) => t.likeCount, metric: true },
    { name: 'retweet_count', type: 'bigint', value: (t) => t.retweetCount, metric: true },
    { name: 'reply_count', type: 'bigint', value: (t) => t.replyCount, metric: true },
    { name: 'quote_count', type: 'bigint', value: (t) => t.quoteCount, metric: true },
    { name: 'bookmark_count', type: 'bigint', value: (t) => t.bookmarkCount, metric: true },
    { name: 'view_count', type: 'bigint', value: (t) => t.viewCount, metric: true },
    { name: 'impression_count', type: 'bigint', value: (t) => t.impressionCount, metric: true },
    { name: 'source', type: 'text', value: (t) => t.source },
    { name: 'possibly_sensitive', type: 'boolean', value: (t) => t.possiblySensitive },
    { name: 'entities', type: 'jsonb', value: (t) => t.entities, set: ENTITIES_FOLLOW_TEXT },
    { name: 'edit_history_tweet_ids', type: 'bigint[]', value: (t) => t.editHistoryTweetIds },
  ],
  extra: [
    {
      name: 'from_timeline',
      type: 'boolean',
      value: (t) => t.fromTimeline,
      onConflict: 't.from_timeline or excluded.from_timeline',
    },
  ],
  metricsClock: 'metrics_observed_at',
};

export const mediaTable: EntityTable<CanonicalMedia> = {
  table: 'media',
  key: { name: 'media_key', type: 'text', value: (m) => m.mediaKey },
  merged: [
    { name: 'type', type: 'text', value: (m) => m.type },
    { name: 'url', type: 'text', value: (m) => m.url },
    { name: 'preview_image_url', type: 'text', value: (m) => m.previewImageUrl },
    { name: 'width', type: 'integer', value: (m) => m.width },
    { name: 'height', type: 'integer', value: (m) => m.height },
    { name: 'alt_text', type: 'text', value: (m) => m.altText },
    { name: 'duration_ms', type: 'integer', value: (m) => m.durationMs },
    { name: 'view_count', type: 'bigint', value: (m) => m.viewCount },
    {
      name: 'variants',
      type: 'jsonb',
      // Stored in the provider's own (X v2) field names, which analysts already know.
      value: (m) =>
        m.variants?.map((variant) => ({
          url: variant.url,
          content_type: variant.contentType,
          bit_rate: variant.bitRate,
        })),
    },
    { name: 'sizes', type: 'jsonb', value: (m) => m.sizes },
  ],
  // The boxes' own clock: set by a page that reported them, never moved back. The page
  // statement compares it with the page's time to decide whether its boxes replace the stored.
  extra: [
    {
      name: 'faces_observed_at',
      type: 'timestamptz',
      value: (m, at) => (m.faces === undefined ? undefined : at),
      onConflict: 'greatest(t.faces_observed_at, excluded.faces_observed_at)',
    },
    {
      name: 'focus_rects_observed_at',
      type: 'timestamptz',
      value: (m, at) => (m.focusRects === undefined ? undefined : at),
      onConflict: 'greatest(t.focus_rects_observed_at, excluded.focus_rects_observed_at)',
    },
  ],
  returning: ['faces_observed_at', 'focus_rects_observed_at'],
};
