import { sql } from 'drizzle-orm';
import { type BirdfeedExecutor, rowsOf } from '../database.ts';
import type { PageRows } from './page-rows.ts';
import { arrayParam } from './unnest-upsert.ts';

export interface ReplaceCounts {
  written: number;
  removed: number;
}

/**
 * Faces of the sizes this page reported, replaced exactly: boxes past the reported count are
 * deleted, the others upserted (unchanged boxes are not rewritten). Sizes the page did not
 * report, and media whose faces are unknown (X v2), are not touched. One statement: the
 * delete and the upsert are CTEs on disjoint rows (idx >= count vs idx < count).
 */
export async function replaceFaces(
  db: BirdfeedExecutor,
  reported: PageRows['faceSizesReported'],
  faces: PageRows['faces'],
): Promise<ReplaceCounts> {
  if (reported.length === 0) return { written: 0, removed: 0 };
  const [row] = rowsOf<{ removed: number; written: number }>(
    await db.execute(sql`with reported(media_key, size, n) as (
        select * from unnest(${arrayParam(
          'text',
          reported.map((r) => r.mediaKey),
        )}, ${arrayParam(
          'text',
          reported.map((r) => r.size),
        )}, ${arrayParam(
          'integer',
          reported.map((r) => r.count),
        )})
      ),
      removed as (
        delete from media_faces f using reported r
        where f.media_key = r.media_key and f.size = r.size and f.idx >= r.n
        returning 1
      ),
      written as (
        insert into media_faces as t (media_key, size, idx, x, y, w, h)
        select * from unnest(${arrayParam(
          'text',
          faces.map((f) => f.mediaKey),
        )}, ${arrayParam(
          'text',
          faces.map((f) => f.size),
        )}, ${arrayParam(
          'integer',
          faces.map((f) => f.idx),
        )}, ${arrayParam(
          'integer',
          faces.map((f) => f.rect.x),
        )}, ${arrayParam(
          'integer',
          faces.map((f) => f.rect.y),
        )}, ${arrayParam(
          'integer',
          faces.map((f) => f.rect.w),
        )}, ${arrayParam(
          'integer',
          faces.map((f) => f.rect.h),
        )})
        on conflict (media_key, size, idx) do update
          set x = excluded.x, y = excluded.y, w = excluded.w, h = excluded.h
          where (t.x, t.y, t.w, t.h) is distinct from (excluded.x, excluded.y, excluded.w, excluded.h)
        returning 1
      )
      select (select count(*) from removed)::int as removed, (select count(*) from written)::int as written`),
  );
  return { written: Number(row?.written ?? 0), removed: Number(row?.removed ?? 0) };
}

/** Focus rects of the media this page reported, replaced exactly (same shape as faces). */
export async function replaceFocusRects(
  db: BirdfeedExecutor,
  reported: PageRows['focusRectsReported'],
  rects: PageRows['focusRects'],
): Promise<ReplaceCounts> {
  if (reported.length === 0) return { written: 0, removed: 0 };
  const [row] = rowsOf<{ removed: number; written: number }>(
    await db.execute(sql`with reported(media_key, n) as (
        select * from unnest(${arrayParam(
          'text',
          reported.map((r) => r.mediaKey),
        )}, ${arrayParam(
          'integer',
          reported.map((r) => r.count),
        )})
      ),
      removed as (
        delete from media_focus_rects f using reported r
        where f.media_key = r.media_key and f.idx >= r.n
        returning 1
      ),
      written as (
        insert into media_focus_rects as t (media_key, idx, x, y, w, h)
        select * from unnest(${arrayParam(
          'text',
          rects.map((f) => f.mediaKey),
        )}, ${arrayParam(
          'integer',
          rects.map((f) => f.idx),
        )}, ${arrayParam(
          'integer',
          rects.map((f) => f.rect.x),
        )}, ${arrayParam(
          'integer',
          rects.map((f) => f.rect.y),
        )}, ${arrayParam(
          'integer',
          rects.map((f) => f.rect.w),
        )}, ${arrayParam(
          'integer',
          rects.map((f) => f.rect.h),
        )})
        on conflict (media_key, idx) do update
          set x = excluded.x, y = excluded.y, w = excluded.w, h = excluded.h
          where (t.x, t.y, t.w, t.h) is distinct from (excluded.x, excluded.y, excluded.w, excluded.h)
        returning 1
      )
      select (select count(*) from removed)::int as removed, (select count(*) from written)::int as written`),
  );
  return { written: Number(row?.written ?? 0), removed: Number(row?.removed ?? 0) };
}
