import { FACE_SIZES } from '@birdfeed/model';
import {
  bigint,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
} from 'drizzle-orm/pg-core';
import { nonNegative, oneOf, snowflake } from './columns.ts';

const at = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/** Photos, videos and GIFs by their provider media key (e.g. "3_1925089014240894976"). */
export const media = pgTable(
  'media',
  {
    mediaKey: text('media_key').primaryKey(),
    type: text('type'),
    url: text('url'),
    previewImageUrl: text('preview_image_url'),
    width: integer('width'),
    height: integer('height'),
    /** X only: agntdata never reports it, so an agntdata page leaves it as X stored it. */
    altText: text('alt_text'),
    durationMs: integer('duration_ms'),
    viewCount: bigint('view_count', { mode: 'number' }),
    variants: jsonb('variants'),
    sizes: jsonb('sizes'),
    observedAt: at('observed_at').notNull(),
    /**
     * When the stored face boxes / focus rects were observed (agntdata only). They have their
     * own clock because pages of other providers move `observed_at` without reporting boxes, and
     * an older page written late must not replace newer boxes.
     */
    facesObservedAt: at('faces_observed_at'),
    focusRectsObservedAt: at('focus_rects_observed_at'),
    firstSeenAt: at('first_seen_at').notNull(),
    lastSeenAt: at('last_seen_at').notNull(),
  },
  (table) => [
    check(
      'media_nonnegative_check',
      nonNegative(table.width, table.height, table.durationMs, table.viewCount),
    ),
  ],
);

/** Which media a tweet carries, in order (position is 0-based). */
export const tweetMedia = pgTable(
  'tweet_media',
  {
    tweetId: snowflake('tweet_id').notNull(),
    mediaKey: text('media_key').notNull(),
    position: integer('position').notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.tweetId, table.mediaKey] }),
    index('tweet_media_media_key_idx').on(table.mediaKey),
  ],
);

/**
 * Face boxes per rendition size (orig, large, medium, small), agntdata only. A page that
 * reports a size replaces that size's boxes exactly; X pages (faces unknown) leave them alone.
 */
export const mediaFaces = pgTable(
  'media_faces',
  {
    mediaKey: text('media_key').notNull(),
    size: text('size').notNull(),
    idx: integer('idx').notNull(),
    x: integer('x').notNull(),
    y: integer('y').notNull(),
    w: integer('w').notNull(),
    h: integer('h').notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.mediaKey, table.size, table.idx] }),
    check('media_faces_size_check', oneOf(table.size, FACE_SIZES)),
  ],
);

/** Crop focus rectangles of the original image (agntdata `original_info.focus_rects`). */
export const mediaFocusRects = pgTable(
  'media_focus_rects',
  {
    mediaKey: text('media_key').notNull(),
    idx: integer('idx').notNull(),
    x: integer('x').notNull(),
    y: integer('y').notNull(),
    w: integer('w').notNull(),
    h: integer('h').notNull(),
  },
  (table) => [primaryKey({ columns: [table.mediaKey, table.idx] })],
);
