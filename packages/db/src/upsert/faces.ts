import type { Rect } from '@birdfeed/model';
import { type Statement as SQL, stmt as sql } from '../statement.ts';
import type { PageRows } from './page-rows.ts';
import { arrayParam } from './unnest-upsert.ts';

/**
 * The boxes of one table as CTEs of the page statement:
 * - `<name>_removed`: boxes past the reported count, deleted;
 * - `<name>_fresh`: boxes of media the media CTE created, a plain INSERT (anyone else writing
 *   boxes for that media would first wait on the media row this statement holds), the
 *   cheapest way in after COPY;
 * - `<name>_written`: boxes of existing media that are new or moved, upserted.
 * They touch disjoint rows (idx >= count vs idx < count; created vs existing media).
 * Existing media take this page's boxes only when the page is at least as new as the boxes
 * stored (`<gate>`, the media row's box clock as the media CTE wrote it: still this page's
 * time only if no newer page had reported boxes), so a page written late cannot replace
 * newer boxes.
 *
 * Three measured traps (EXPLAIN ANALYZE on a 100,000-row table during a bulk load):
 * - a delete joined to the unnest was planned as a sequential scan while the table's
 *   statistics still described it as small (13 ms a page and growing); the stale rows are now
 *   found by a per-media lookup that cannot be flattened into a join (`offset 0` keeps the
 *   lateral subquery parameterized, so it walks the primary key) and deleted by ctid;
 * - `ON CONFLICT DO UPDATE … WHERE changed` locks every conflicting row before it evaluates
 *   WHERE (14 µs a box on a re-upsert, all of it for unchanged rows): unchanged boxes are
 *   filtered out by a plain read first, so only new or moved boxes reach the insert;
 * - that read as a bare `not exists` became a hashed subplan over the whole table: `offset 0`
 *   keeps it a per-row index probe.
 */
function boxCtes(
  table: 'media_faces' | 'media_focus_rects',
  name: string,
  mediaCte: string,
  reported: { keys: string[]; sizes: string[] | null; counts: number[] },
  incoming: SQL,
  conflictKey: string,
  gate: { column: string; at: Date },
): SQL {
  const bySize = reported.sizes !== null;
  const columns = bySize ? 'media_key, size, idx, x, y, w, h' : 'media_key, idx, x, y, w, h';
  const select = columns
    .split(', ')
    .map((column) => `i.${column}`)
    .join(', ');
  const sameKey = `cur.media_key = i.media_key and cur.idx = i.idx${bySize ? ' and cur.size = i.size' : ''}`;
  const t = sql.raw(table);
  const n = (suffix: string) => sql.raw(`${name}_${suffix}`);
  const newest = sql`m.${sql.raw(gate.column)} = ${gate.at.toISOString()}::timestamptz`;
  return sql`${n('reported')} as (
      select r.* from unnest(${arrayParam('text', reported.keys)}, ${arrayParam(
        'text',
        reported.sizes ?? reported.keys,
      )}, ${arrayParam('integer', reported.counts)}) as r(media_key, size, n)
      join ${sql.raw(mediaCte)} m on m.k = r.media_key
      where not m.created and ${newest}
    ),
    ${n('removed')} as (
      delete from ${t} where ctid = any(array(
        select x.ctid from ${n('reported')} r cross join lateral (
          select ctid from ${t} f
          where f.media_key = r.media_key ${bySize ? sql`and f.size = r.size` : sql``} and f.idx >= r.n
          offset 0
        ) x
      ))
      returning 1
    ),
    ${n('in')} as (
      select i.*, m.created, ${newest} as newest
      from (${incoming}) i join ${sql.raw(mediaCte)} m on m.k = i.media_key
    ),
    ${n('fresh')} as (
      insert into ${t} (${sql.raw(columns)})
      select ${sql.raw(select)} from ${n('in')} i where i.created
      returning 1
    ),
    ${n('written')} as (
      insert into ${t} as t (${sql.raw(columns)})
      select ${sql.raw(select)} from ${n('in')} i
      where not i.created and i.newest and not exists (
        select 1 from ${t} cur
        where ${sql.raw(sameKey)} and (cur.x, cur.y, cur.w, cur.h) = (i.x, i.y, i.w, i.h)
        offset 0
      )
      on conflict (${sql.raw(conflictKey)}) do update
        set x = excluded.x, y = excluded.y, w = excluded.w, h = excluded.h
        where (t.x, t.y, t.w, t.h) is distinct from (excluded.x, excluded.y, excluded.w, excluded.h)
      returning 1
    )`;
}

/** The x, y, w, h columns of boxes, one integer array each, in that order. */
function rectParams(boxes: readonly { rect: Rect }[]): SQL {
  return sql.join(
    (['x', 'y', 'w', 'h'] as const).map((field) =>
      arrayParam(
        'integer',
        boxes.map((box) => box.rect[field]),
      ),
    ),
    ', ',
  );
}

/**
 * Faces of the sizes this page reported, replaced exactly. Sizes the page did not report, and
 * media whose faces are unknown (X v2), are not touched. Null when the page reported none.
 */
export function facesCtes(
  reported: PageRows['faceSizesReported'],
  faces: PageRows['faces'],
  name: string,
  mediaCte: string,
  observedAt: Date,
): SQL | null {
  if (reported.length === 0) return null;
  return boxCtes(
    'media_faces',
    name,
    mediaCte,
    {
      keys: reported.map((r) => r.mediaKey),
      sizes: reported.map((r) => r.size),
      counts: reported.map((r) => r.count),
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
    )}, ${rectParams(faces)}) as i(media_key, size, idx, x, y, w, h)`,
    'media_key, size, idx',
    { column: 'faces_observed_at', at: observedAt },
  );
}

/** Focus rects of the media this page reported, replaced exactly (same shape as faces). */
export function focusRectsCtes(
  reported: PageRows['focusRectsReported'],
  rects: PageRows['focusRects'],
  name: string,
  mediaCte: string,
  observedAt: Date,
): SQL | null {
  if (reported.length === 0) return null;
  return boxCtes(
    'media_focus_rects',
    name,
    mediaCte,
    { keys: reported.map((r) => r.mediaKey), sizes: null, counts: reported.map((r) => r.count) },
    sql`select * from unnest(${arrayParam(
      'text',
      rects.map((f) => f.mediaKey),
    )}, ${arrayParam(
      'integer',
      rects.map((f) => f.idx),
    )}, ${rectParams(rects)}) as i(media_key, idx, x, y, w, h)`,
    'media_key, idx',
    { column: 'focus_rects_observed_at', at: observedAt },
  );
}
