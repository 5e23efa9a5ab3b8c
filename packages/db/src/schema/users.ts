import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  check,
  index,
  pgTable,
  primaryKey,
  text,
  timestamp,
} from 'drizzle-orm/pg-core';
import { nonNegative, snowflake } from './columns.ts';

const at = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });
const count = (name: string) => bigint(name, { mode: 'number' });

/**
 * One row per account ever seen, as author, timeline owner or referenced user. Counts are those
 * of the newest observation that reported counts (`metrics_observed_at`); their history is in
 * `user_metrics`.
 */
export const users = pgTable(
  'users',
  {
    id: snowflake('id').primaryKey(),
    username: text('username'),
    name: text('name'),
    description: text('description'),
    location: text('location'),
    url: text('url'),
    profileImageUrl: text('profile_image_url'),
    followersCount: count('followers_count'),
    followingCount: count('following_count'),
    tweetCount: count('tweet_count'),
    listedCount: count('listed_count'),
    likeCount: count('like_count'),
    verified: boolean('verified'),
    verifiedType: text('verified_type'),
    protected: boolean('protected'),
    createdAt: at('created_at'),
    /**
     * The newest observation of the row (its other fields: an older one only fills a field the
     * row has no value for). An observation that reports no count (a partial object, such as a
     * user lookup with only id, name and username) does not move it.
     */
    observedAt: at('observed_at').notNull(),
    /**
     * When the stored counts were observed (NULL: never reported); an older observation never
     * overwrites them. Their history is in `user_metrics`.
     */
    metricsObservedAt: at('metrics_observed_at'),
    firstSeenAt: at('first_seen_at').notNull(),
    lastSeenAt: at('last_seen_at').notNull(),
  },
  (table) => [
    index('users_username_idx').on(sql`lower(${table.username})`),
    check(
      'users_counts_check',
      nonNegative(
        table.followersCount,
        table.followingCount,
        table.tweetCount,
        table.listedCount,
        table.likeCount,
      ),
    ),
  ],
);

/** Follower/following/tweet counts over time: one row per observation that changed a value. */
export const userMetrics = pgTable(
  'user_metrics',
  {
    userId: snowflake('user_id').notNull(),
    observedAt: at('observed_at').notNull(),
    followersCount: count('followers_count'),
    followingCount: count('following_count'),
    tweetCount: count('tweet_count'),
    listedCount: count('listed_count'),
    likeCount: count('like_count'),
  },
  (table) => [
    primaryKey({ columns: [table.userId, table.observedAt] }),
    check(
      'user_metrics_counts_check',
      nonNegative(
        table.followersCount,
        table.followingCount,
        table.tweetCount,
        table.listedCount,
        table.likeCount,
      ),
    ),
  ],
);
