import { REFERENCE_TYPES } from '@birdfeed/model';
import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  check,
  index,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
} from 'drizzle-orm/pg-core';
import { nonNegative, oneOf, snowflake } from './columns.ts';

const at = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });
const count = (name: string) => bigint(name, { mode: 'number' });

/**
 * Every tweet seen: a timeline's own results and the tweets that arrived inside them
 * (quoted, retweeted, replied-to). No foreign keys: a page may reference an author or tweet
 * it does not include (deleted, protected, or simply not expanded), and the row must land
 * anyway.
 */
export const tweets = pgTable(
  'tweets',
  {
    id: snowflake('id').primaryKey(),
    authorId: snowflake('author_id'),
    createdAt: at('created_at'),
    text: text('text'),
    lang: text('lang'),
    conversationId: snowflake('conversation_id'),
    inReplyToTweetId: snowflake('in_reply_to_tweet_id'),
    inReplyToUserId: snowflake('in_reply_to_user_id'),
    quotedTweetId: snowflake('quoted_tweet_id'),
    retweetedTweetId: snowflake('retweeted_tweet_id'),
    likeCount: count('like_count'),
    retweetCount: count('retweet_count'),
    replyCount: count('reply_count'),
    quoteCount: count('quote_count'),
    bookmarkCount: count('bookmark_count'),
    viewCount: count('view_count'),
    impressionCount: count('impression_count'),
    source: text('source'),
    possiblySensitive: boolean('possibly_sensitive'),
    entities: jsonb('entities'),
    editHistoryTweetIds: snowflake('edit_history_tweet_ids').array(),
    /** True once the tweet was seen as a timeline result (not only inside another tweet). */
    fromTimeline: boolean('from_timeline').notNull().default(false),
    /**
     * The newest observation of the row (its other fields: an older one only fills a field the
     * row has no value for). An observation that reports no count (a partial object, such as a
     * user lookup with only id, name and username) does not move it.
     */
    observedAt: at('observed_at').notNull(),
    /**
     * When the stored counts were observed (NULL: never reported); an older observation never
     * overwrites them. Their history is in `tweet_metrics`.
     */
    metricsObservedAt: at('metrics_observed_at'),
    firstSeenAt: at('first_seen_at').notNull(),
    lastSeenAt: at('last_seen_at').notNull(),
  },
  (table) => [
    index('tweets_author_id_id_idx').on(table.authorId, sql`${table.id} desc`),
    index('tweets_conversation_id_idx').on(table.conversationId),
    check(
      'tweets_counts_check',
      nonNegative(
        table.likeCount,
        table.retweetCount,
        table.replyCount,
        table.quoteCount,
        table.bookmarkCount,
        table.viewCount,
        table.impressionCount,
      ),
    ),
  ],
);

/** Reply / quote / retweet edges, one row per reference a tweet makes. */
export const tweetReferences = pgTable(
  'tweet_references',
  {
    tweetId: snowflake('tweet_id').notNull(),
    type: text('type').notNull(),
    referencedTweetId: snowflake('referenced_tweet_id').notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.tweetId, table.type, table.referencedTweetId] }),
    index('tweet_references_referenced_idx').on(table.referencedTweetId),
    check('tweet_references_type_check', oneOf(table.type, REFERENCE_TYPES)),
  ],
);

/** Engagement counts over time: one row per observation that changed a value. */
export const tweetMetrics = pgTable(
  'tweet_metrics',
  {
    tweetId: snowflake('tweet_id').notNull(),
    observedAt: at('observed_at').notNull(),
    likeCount: count('like_count'),
    retweetCount: count('retweet_count'),
    replyCount: count('reply_count'),
    quoteCount: count('quote_count'),
    bookmarkCount: count('bookmark_count'),
    impressionCount: count('impression_count'),
    viewCount: count('view_count'),
  },
  (table) => [
    primaryKey({ columns: [table.tweetId, table.observedAt] }),
    check(
      'tweet_metrics_counts_check',
      nonNegative(
        table.likeCount,
        table.retweetCount,
        table.replyCount,
        table.quoteCount,
        table.bookmarkCount,
        table.impressionCount,
        table.viewCount,
      ),
    ),
  ],
);
