import { REFERENCE_TYPES } from '@birdfeed/model';
import { z } from 'zod';
import { count, isIsoCalendarDate, snowflakeId } from './schema-parse.ts';

/**
 * Raw X API v2 bodies (GET /2/users/:id/tweets and the user lookup endpoints), as documented in
 * ../../shared/seeds/x-api-v2-users-id-tweets.txt and recorded in ../../shared/fixtures/real/x-v2.
 * Unknown keys pass (twarc's `__twarc`, `context_annotations`, `withheld`, `edit_controls`…);
 * the fields that become columns are checked. The page schemas strip what they do not name from
 * the parsed value (the raw body keeps everything, and `entities` is taken whole): a loose object
 * walks every key of every tweet, user and media to carry the unknown ones over, ≈ 0.3 ms of the
 * 1.2 ms a 100-tweet page spent in JSON.parse and zod.
 * Error bodies stay loose: their readers look at fields beyond the named ones.
 */

const isoDate = z.string().refine(isIsoCalendarDate, {
  message: 'expected an ISO 8601 date on a real day and time',
});

export const xTweetPublicMetricsSchema = z.object({
  retweet_count: count.optional(),
  reply_count: count.optional(),
  like_count: count.optional(),
  quote_count: count.optional(),
  impression_count: count.optional(),
  bookmark_count: count.optional(),
});

export const xReferencedTweetSchema = z.object({
  /** A kind X adds one day fails the page here (invalid body), not at the column's CHECK. */
  type: z.enum(REFERENCE_TYPES),
  id: snowflakeId,
});

export const xTweetSchema = z.object({
  id: snowflakeId,
  text: z.string(),
  author_id: snowflakeId.optional(),
  created_at: isoDate.optional(),
  lang: z.string().optional(),
  conversation_id: snowflakeId.optional(),
  in_reply_to_user_id: snowflakeId.optional(),
  referenced_tweets: z.array(xReferencedTweetSchema).optional(),
  source: z.string().optional(),
  possibly_sensitive: z.boolean().optional(),
  entities: z.unknown().optional(),
  edit_history_tweet_ids: z.array(snowflakeId).optional(),
  public_metrics: xTweetPublicMetricsSchema.optional(),
  attachments: z
    .object({
      media_keys: z.array(z.string().min(1)).optional(),
      poll_ids: z.array(z.string()).optional(),
    })
    .optional(),
  /** Tweets over 280 characters: `text` is truncated, `note_tweet.text` is the whole text. */
  note_tweet: z.object({ text: z.string(), entities: z.unknown().optional() }).optional(),
});

export const xUserSchema = z.object({
  id: snowflakeId,
  username: z.string().optional(),
  name: z.string().optional(),
  created_at: isoDate.optional(),
  description: z.string().optional(),
  location: z.string().optional(),
  url: z.string().optional(),
  profile_image_url: z.string().optional(),
  verified: z.boolean().optional(),
  verified_type: z.string().optional(),
  protected: z.boolean().optional(),
  public_metrics: z
    .object({
      followers_count: count.optional(),
      following_count: count.optional(),
      tweet_count: count.optional(),
      listed_count: count.optional(),
      like_count: count.optional(),
    })
    .optional(),
});

export const xMediaVariantSchema = z.object({
  url: z.string(),
  content_type: z.string().optional(),
  bit_rate: count.optional(),
});

export const xMediaSchema = z.object({
  media_key: z.string().min(1),
  type: z.string(),
  url: z.string().optional(),
  preview_image_url: z.string().optional(),
  width: count.optional(),
  height: count.optional(),
  alt_text: z.string().optional(),
  duration_ms: count.optional(),
  public_metrics: z.object({ view_count: count.optional() }).optional(),
  variants: z.array(xMediaVariantSchema).optional(),
});

/** One entry of `errors[]`: a problem (`title/detail/type`) or a parameter error (`message`). */
export const xProblemSchema = z.looseObject({
  title: z.string().optional(),
  detail: z.string().optional(),
  type: z.string().optional(),
  status: z.number().optional(),
  message: z.string().optional(),
  resource_type: z.string().optional(),
  resource_id: z.string().optional(),
  parameter: z.string().optional(),
  value: z.unknown().optional(),
  section: z.string().optional(),
});

export const xMetaSchema = z.object({
  result_count: count.optional(),
  newest_id: snowflakeId.optional(),
  oldest_id: snowflakeId.optional(),
  next_token: z.string().optional(),
  previous_token: z.string().optional(),
});

export const xIncludesSchema = z.object({
  users: z.array(xUserSchema).optional(),
  media: z.array(xMediaSchema).optional(),
  tweets: z.array(xTweetSchema).optional(),
  polls: z.array(z.object({ id: z.string() })).optional(),
  // Place ids are hex ("01a9a39529b27f36"), not snowflakes: kept as sent, never stored.
  places: z.array(z.object({ id: z.string() })).optional(),
});

/**
 * A page of tweets. `data` is absent on an empty page (`result_count: 0`, possibly with a
 * `next_token`) and on a 200 that only carries `errors` (a missing or suspended user).
 */
export const xTimelineBodySchema = z.object({
  data: z.array(xTweetSchema).optional(),
  includes: xIncludesSchema.optional(),
  meta: xMetaSchema.optional(),
  errors: z.array(xProblemSchema).optional(),
});

/**
 * A single-tweet lookup (`data: {…}`). Kept apart from the page schema rather than as a union,
 * because a zod union reports its failure at `data` and loses the path of the bad field.
 */
export const xTweetLookupBodySchema = xTimelineBodySchema.extend({
  data: xTweetSchema.optional(),
});

/** GET /2/users?ids=…, /2/users/by?usernames=…: `data[]` of users. */
export const xUsersLookupBodySchema = z.object({
  data: z.array(xUserSchema).optional(),
  includes: xIncludesSchema.optional(),
  errors: z.array(xProblemSchema).optional(),
});

/** GET /2/users/:id, /2/users/by/username/:name, /2/users/me: `data: {…}`. */
export const xUserLookupBodySchema = xUsersLookupBodySchema.extend({
  data: xUserSchema.optional(),
});

/**
 * An X error body: RFC 7807 style `{title, detail, type, status}` (401, 403, some 429s), or
 * `{errors:[…]}` with or without the problem fields beside it (400, 200 "not found").
 */
export const xErrorBodySchema = z
  .looseObject({
    title: z.string().optional(),
    detail: z.string().optional(),
    type: z.string().optional(),
    status: z.number().optional(),
    reason: z.string().optional(),
    errors: z.array(xProblemSchema).optional(),
  })
  .refine(
    (body) =>
      body.title !== undefined ||
      body.detail !== undefined ||
      body.type !== undefined ||
      (body.errors !== undefined && body.errors.length > 0),
    { message: 'expected an X error body ({title, detail, type} or errors[])' },
  );

export type XTweet = z.infer<typeof xTweetSchema>;
export type XUser = z.infer<typeof xUserSchema>;
export type XMedia = z.infer<typeof xMediaSchema>;
export type XProblem = z.infer<typeof xProblemSchema>;
export type XTimelineBody = z.infer<typeof xTimelineBodySchema>;
export type XUsersLookupBody = z.infer<typeof xUsersLookupBodySchema>;
export type XErrorBody = z.infer<typeof xErrorBodySchema>;
