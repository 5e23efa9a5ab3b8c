import { isCalendarDate } from '@birdfeed/model';
import { z } from 'zod';
import { count, rect, snowflakeId } from './schema-parse.ts';

/**
 * Raw agntdata `POST /user/medias` bodies, as documented in
 * ../../shared/seeds/agntdata-user-medias.txt and its example
 * (../../shared/fixtures/real/agntdata/user_medias_docs_example.json).
 * Each result is a flattened legacy tweet; most fields can be null.
 */

/** "Wed May 21 07:19:23 +0000 2025" — the legacy Twitter date format. */
export const AGNTDATA_DATE_PATTERN =
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{2}) (\d{2}):(\d{2}):(\d{2}) ([+-]\d{4}) (\d{4})$/;

const MONTH_NAMES = [
  'Jan',
  'Feb',
  'Mar',
  'Apr',
  'May',
  'Jun',
  'Jul',
  'Aug',
  'Sep',
  'Oct',
  'Nov',
  'Dec',
];

export const agntdataDate = z
  .string()
  .regex(AGNTDATA_DATE_PATTERN, {
    message: 'expected a date like "Wed May 21 07:19:23 +0000 2025"',
  })
  .refine(
    (value) => {
      const [, , month, day, hh, mm, ss, , year] = AGNTDATA_DATE_PATTERN.exec(value) ?? [];
      return isCalendarDate(
        Number(year),
        MONTH_NAMES.indexOf(month as string) + 1,
        Number(day),
        Number(hh),
        Number(mm),
        Number(ss),
      );
    },
    { message: 'not a real day and time (e.g. Feb 30)' },
  );

export const agntdataUserSchema = z.looseObject({
  user_id: snowflakeId,
  username: z.string().nullish(),
  name: z.string().nullish(),
  creation_date: agntdataDate.nullish(),
  follower_count: count.nullish(),
  following_count: count.nullish(),
  favourites_count: count.nullish(),
  number_of_tweets: count.nullish(),
  listed_count: count.nullish(),
  is_private: z.boolean().nullish(),
  is_verified: z.boolean().nullish(),
  is_blue_verified: z.boolean().nullish(),
  verified_type: z.string().nullish(),
  location: z.string().nullish(),
  description: z.string().nullish(),
  profile_pic_url: z.string().nullish(),
  external_url: z.string().nullish(),
});

const faceSet = z.looseObject({ faces: z.array(rect).nullish() }).nullish();

export const agntdataMediaSchema = z
  .looseObject({
    media_key: z.string().min(1).optional(),
    id_str: snowflakeId.optional(),
    type: z.string(),
    media_url_https: z.string().nullish(),
    ext_alt_text: z.string().nullish(),
    sizes: z
      .record(
        z.string(),
        z.looseObject({ w: count, h: count, resize: z.string().optional() }).nullish(),
      )
      .nullish(),
    original_info: z
      .looseObject({
        width: count.nullish(),
        height: count.nullish(),
        focus_rects: z.array(rect).nullish(),
      })
      .nullish(),
    features: z
      .looseObject({ orig: faceSet, large: faceSet, medium: faceSet, small: faceSet })
      .nullish(),
    /** A video's own view count, where the service passes X's media stats through. */
    mediaStats: z.looseObject({ viewCount: count.nullish() }).nullish(),
    video_info: z
      .looseObject({
        duration_millis: count.nullish(),
        variants: z
          .array(
            z.looseObject({
              url: z.string(),
              content_type: z.string().nullish(),
              bitrate: count.nullish(),
            }),
          )
          .nullish(),
      })
      .nullish(),
  })
  .refine((media) => media.media_key !== undefined || media.id_str !== undefined, {
    message: 'expected media_key or id_str',
  });

const tweetFields = {
  tweet_id: snowflakeId,
  creation_date: agntdataDate.nullish(),
  /** Epoch seconds of creation_date; used when creation_date is missing. */
  timestamp: z.number().nullish(),
  text: z.string().nullish(),
  user: agntdataUserSchema.nullish(),
  language: z.string().nullish(),
  favorite_count: count.nullish(),
  retweet_count: count.nullish(),
  reply_count: count.nullish(),
  quote_count: count.nullish(),
  bookmark_count: count.nullish(),
  views: count.nullish(),
  video_view_count: count.nullish(),
  retweet: z.boolean().nullish(),
  in_reply_to_status_id: snowflakeId.nullish(),
  in_reply_to_user_id: snowflakeId.nullish(),
  quoted_status_id: snowflakeId.nullish(),
  retweet_tweet_id: snowflakeId.nullish(),
  conversation_id: snowflakeId.nullish(),
  source: z.string().nullish(),
  extended_entities: z.looseObject({ media: z.array(agntdataMediaSchema).nullish() }).nullish(),
};

/** A retweeted or quoted tweet embedded in a result: the same shape, one level down. */
export const agntdataEmbeddedTweetSchema = z.looseObject(tweetFields);

export const agntdataTweetSchema = z.looseObject({
  ...tweetFields,
  retweet_status: agntdataEmbeddedTweetSchema.nullish(),
  quoted_status: agntdataEmbeddedTweetSchema.nullish(),
});

/** The bare body, as the upstream API returns it. */
export const agntdataMediasBodySchema = z.looseObject({
  results: z.array(agntdataTweetSchema),
  continuation_token: z.string().nullish(),
});

/** The agntdata service's envelope around the bare body. */
export const agntdataEnvelopeSchema = z.looseObject({
  success: z.literal(true),
  data: agntdataMediasBodySchema,
  meta: z.looseObject({ costCents: z.number().nonnegative().optional() }).nullish(),
});

/** `{success:false, error:{code, message, retryAfter}}` (retryAfter in seconds). */
export const agntdataErrorBodySchema = z.looseObject({
  success: z.literal(false),
  error: z.looseObject({
    code: z.union([z.string(), z.number()]),
    message: z.string(),
    retryAfter: z.number().nonnegative().nullish(),
  }),
});

/** FastAPI's 422: `{detail:[{loc, msg, type}]}`. */
export const agntdataValidationErrorSchema = z.looseObject({
  detail: z.array(
    z.looseObject({
      loc: z.array(z.union([z.string(), z.number()])),
      msg: z.string(),
      type: z.string(),
    }),
  ),
});

export type AgntdataUser = z.infer<typeof agntdataUserSchema>;
export type AgntdataMedia = z.infer<typeof agntdataMediaSchema>;
export type AgntdataEmbeddedTweet = z.infer<typeof agntdataEmbeddedTweetSchema>;
export type AgntdataTweet = z.infer<typeof agntdataTweetSchema>;
export type AgntdataMediasBody = z.infer<typeof agntdataMediasBodySchema>;
export type AgntdataEnvelope = z.infer<typeof agntdataEnvelopeSchema>;
export type AgntdataErrorBody = z.infer<typeof agntdataErrorBodySchema>;
export type AgntdataValidationError = z.infer<typeof agntdataValidationErrorSchema>;
