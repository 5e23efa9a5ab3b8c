import type pg from 'pg';
import type { Truth } from '../../apps/sandbox/src/index.ts';

/**
 * An account's timeline as the database holds it and as the sandbox knows it, in one shape,
 * so a test can compare them with a single `toEqual`: tweet ids newest first, each with its
 * media keys in order, each media with its faces per size and its focus rects.
 */
export interface TimelineSnapshot {
  tweets: Array<{ id: string; media: string[] }>;
  media: Record<string, { faces: Record<string, Rect[]>; focusRects: Rect[] }>;
}

interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

export function truthSnapshot(
  truth: Truth,
  options: { onlyWithMedia?: boolean; withFaces?: boolean } = {},
): TimelineSnapshot {
  const tweets = truth.tweets.filter((tweet) => !options.onlyWithMedia || tweet.media.length > 0);
  const media: TimelineSnapshot['media'] = {};
  for (const tweet of tweets) {
    for (const item of tweet.media) {
      media[item.media_key] =
        options.withFaces === false
          ? { faces: {}, focusRects: [] }
          : {
              faces: Object.fromEntries(
                Object.entries(item.faces).filter(([, rects]) => rects.length > 0),
              ),
              focusRects: item.focus_rects,
            };
    }
  }
  return {
    tweets: tweets.map((tweet) => ({ id: tweet.id, media: tweet.media.map((m) => m.media_key) })),
    media,
  };
}

export async function databaseSnapshot(
  pool: pg.Pool,
  userId: string,
  options: { onlyWithMedia?: boolean } = {},
): Promise<TimelineSnapshot> {
  const tweets = (
    await pool.query<{ id: string; media: string[] | null }>(
      `SELECT t.id::text AS id,
         array_agg(tm.media_key ORDER BY tm.position) FILTER (WHERE tm.media_key IS NOT NULL) AS media
       FROM tweets t LEFT JOIN tweet_media tm ON tm.tweet_id = t.id
       WHERE t.author_id = $1
       GROUP BY t.id ORDER BY t.id DESC`,
      [userId],
    )
  ).rows
    .map((row) => ({ id: row.id, media: row.media ?? [] }))
    .filter((tweet) => !options.onlyWithMedia || tweet.media.length > 0);
  const keys = tweets.flatMap((tweet) => tweet.media);
  const media: TimelineSnapshot['media'] = {};
  for (const key of keys) media[key] = { faces: {}, focusRects: [] };
  const faces = await pool.query<{ media_key: string; size: string } & Rect>(
    `SELECT media_key, size, x, y, w, h FROM media_faces WHERE media_key = ANY($1::text[])
     ORDER BY media_key, size, idx`,
    [keys],
  );
  for (const row of faces.rows) {
    const entry = media[row.media_key];
    if (entry === undefined) continue;
    const list = entry.faces[row.size] ?? [];
    list.push({ x: row.x, y: row.y, w: row.w, h: row.h });
    entry.faces[row.size] = list;
  }
  const rects = await pool.query<{ media_key: string } & Rect>(
    `SELECT media_key, x, y, w, h FROM media_focus_rects WHERE media_key = ANY($1::text[])
     ORDER BY media_key, idx`,
    [keys],
  );
  for (const row of rects.rows) {
    media[row.media_key]?.focusRects.push({ x: row.x, y: row.y, w: row.w, h: row.h });
  }
  return { tweets, media };
}
