import { type SQL, sql } from 'drizzle-orm';
import { type BirdfeedExecutor, executePrepared } from '../database.ts';
import type { PageRows } from './page-rows.ts';
import { arrayParam } from './unnest-upsert.ts';

export interface ReplaceCounts {
  written: number;
  removed: number;
}

const RECT_SET = `set x = excluded.x, y = excluded.y, w = excluded.w, h = excluded.h
  where (t.x, t.y, t.w, t.h) is distinct from (excluded.x, excluded.y, excluded.w, excluded.h)`;

/**
 * One statement: delete the boxes past the reported count (`removed` CTE), write the others
 * (`written` CTE). The two touch disjoint rows (idx >= count vs idx < count). Media created by
 * this very transaction cannot have stored boxes (anyone else writing boxes for them would
 * first wait on the media row we hold), so their boxes skip the delete, the unchanged-box
 * lookup and ON CONFLICT: a plain INSERT (`fresh`), the cheapest way in after COPY.
 *
 * Two measured traps (EXPLAIN ANALYZE on a 100,000-row table during a bulk load):
 * - a delete joined to the unnest was planned as a sequential scan while the table's
 *   statistics still described it as small (13 ms a page and growing); the stale rows are
 *   now found by a per-media lookup that cannot be flattened into a join (`offset 0` keeps
 *   the lateral subquery parameterized, so it walks the primary key) and deleted by ctid;
 * - `ON CONFLICT DO UPDATE … WHERE changed` locks every conflicting row before it evaluates
 *   WHERE (14 µs a box on a re-upsert, all of it for unchanged rows); unchanged boxes are now
 *   filtered out by a plain read first, so only new or moved boxes reach the insert. That
 *   read is `not exists (… offset 0)`: without the offset Postgres turns it into a hashed
 *   subplan over the whole table (a sequential scan per page).
 */
async function replaceBoxes(
  db: BirdfeedExecutor,
  table: 'media_faces' | 'media_focus_rects',
  stale: { keys: string[]; sizes: string[] | null; counts: number[] },
  incoming: SQL,
  conflictKey: string,
): Promise<ReplaceCounts> {
  // `incoming` yields the table's columns plus `created` (its media is new in this transaction).
  const bySize = stale.sizes !== null;
  const columns = bySize ? 'media_key, size, idx, x, y, w, h' : 'media_key, idx, x, y, w, h';
  const select = columns
    .split(', ')
    .map((column) => `i.${column}`)
    .join(', ');
  const sameKey = `cur.media_key = i.media_key and cur.idx = i.idx${bySize ? ' and cur.size = i.size' : ''}`;
  const removed =
    stale.keys.length === 0
      ? sql`removed as (select 1 where false)`
      : sql`reported as (
          select * from unnest(${arrayParam('text', stale.keys)}, ${arrayParam(
            'text',
            stale.sizes ?? stale.keys,
          )}, ${arrayParam('integer', stale.counts)}) as r(media_key, size, n)
        ),
        removed as (
          delete from ${sql.raw(table)} where ctid = any(array(
            select x.ctid from reported r cross join lateral (
              select ctid from ${sql.raw(table)} f
              where f.media_key = r.media_key ${bySize ? sql`and f.size = r.size` : sql``} and f.idx >= r.n
              offset 0
            ) x
          ))
          returning 1
        )`;
  const [row] = await executePrepared<{ removed: number; written: number }>(
    db,
    sql`with ${removed},
      incoming as (${incoming}),
      fresh as (
        insert into ${sql.raw(table)} (${sql.raw(columns)})
        select ${sql.raw(select)} from incoming i where i.created
        returning 1
      ),
      written as (
        insert into ${sql.raw(table)} as t (${sql.raw(columns)})
        select ${sql.raw(select)} from incoming i
        where not i.created and not exists (
          select 1 from ${sql.raw(table)} cur
          where ${sql.raw(sameKey)} and (cur.x, cur.y, cur.w, cur.h) = (i.x, i.y, i.w, i.h)
          offset 0
        )
        on conflict (${sql.raw(conflictKey)}) do update ${sql.raw(RECT_SET)}
        returning 1
      )
      select (select count(*) from removed)::int as removed,
        ((select count(*) from fresh) + (select count(*) from written))::int as written`,
  );
  return { written: Number(row?.written ?? 0), removed: Number(row?.removed ?? 0) };
}

/**
 * Faces of the sizes this page reported, replaced exactly. Sizes the page did not report, and
 * media whose faces are unknown (X v2), are not touched.
 */
export function replaceFaces(
  db: BirdfeedExecutor,
  reported: PageRows['faceSizesReported'],
  faces: PageRows['faces'],
  newMediaKeys: ReadonlySet<string>,
): Promise<ReplaceCounts> {
  if (reported.length === 0) return Promise.resolve({ written: 0, removed: 0 });
  const stale = reported.filter((r) => !newMediaKeys.has(r.mediaKey));
  return replaceBoxes(
    db,
    'media_faces',
    {
      keys: stale.map((r) => r.mediaKey),
      sizes: stale.map((r) => r.size),
      counts: stale.map((r) => r.count),
    },
    sql`select * from unnest(${arrayParam(
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
    )}, ${arrayParam(
      'boolean',
      faces.map((f) => newMediaKeys.has(f.mediaKey)),
    )}) as i(media_key, size, idx, x, y, w, h, created)`,
    'media_key, size, idx',
  );
}

/** Focus rects of the media this page reported, replaced exactly (same shape as faces). */
export function replaceFocusRects(
  db: BirdfeedExecutor,
  reported: PageRows['focusRectsReported'],
  rects: PageRows['focusRects'],
  newMediaKeys: ReadonlySet<string>,
): Promise<ReplaceCounts> {
  if (reported.length === 0) return Promise.resolve({ written: 0, removed: 0 });
  const stale = reported.filter((r) => !newMediaKeys.has(r.mediaKey));
  return replaceBoxes(
    db,
    'media_focus_rects',
    { keys: stale.map((r) => r.mediaKey), sizes: null, counts: stale.map((r) => r.count) },
    sql`select * from unnest(${arrayParam(
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
    )}, ${arrayParam(
      'boolean',
      rects.map((f) => newMediaKeys.has(f.mediaKey)),
    )}) as i(media_key, idx, x, y, w, h, created)`,
    'media_key, idx',
  );
}
