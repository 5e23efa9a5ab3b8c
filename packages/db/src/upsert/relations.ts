import { type Statement as SQL, stmt as sql } from '../statement.ts';
import type { PageRows } from './page-rows.ts';
import { arrayParam } from './unnest-upsert.ts';

/** Reply/quote/retweet edges. They are facts: written once, never removed by a later page. */
export function referencesCte(references: PageRows['references'], name: string): SQL | null {
  if (references.length === 0) return null;
  return sql`${sql.raw(name)} as (
    insert into tweet_references (tweet_id, type, referenced_tweet_id)
    select * from unnest(${arrayParam(
      'bigint',
      references.map((r) => r.tweetId),
    )}, ${arrayParam(
      'text',
      references.map((r) => r.type),
    )}, ${arrayParam(
      'bigint',
      references.map((r) => r.referencedTweetId),
    )})
    on conflict do nothing
    returning 1)`;
}

/**
 * Tweet ↔ media links with their position. Links of tweets the tweets CTE created go in by a
 * plain INSERT (`<name>_fresh`); for the others (`<name>`) an unchanged link is filtered out by
 * a plain read first (ON CONFLICT would lock it even to leave it alone). Count both CTEs.
 */
export function tweetMediaCte(
  links: PageRows['tweetMedia'],
  name: string,
  tweetsCte: string,
): SQL | null {
  if (links.length === 0) return null;
  return sql`${sql.raw(name)}_in as (
      select i.*, coalesce(e.created, false) as created from unnest(${arrayParam(
        'bigint',
        links.map((l) => l.tweetId),
      )}, ${arrayParam(
        'text',
        links.map((l) => l.mediaKey),
      )}, ${arrayParam(
        'integer',
        links.map((l) => l.position),
      )}) as i(tweet_id, media_key, position)
      left join ${sql.raw(tweetsCte)} e on e.k = i.tweet_id
    ),
    ${sql.raw(name)}_fresh as (
      insert into tweet_media (tweet_id, media_key, position)
      select i.tweet_id, i.media_key, i.position from ${sql.raw(name)}_in i where i.created
      returning 1
    ),
    ${sql.raw(name)} as (
      insert into tweet_media as t (tweet_id, media_key, position)
      select i.tweet_id, i.media_key, i.position from ${sql.raw(name)}_in i
      where not i.created and not exists (select 1 from tweet_media cur
        where cur.tweet_id = i.tweet_id and cur.media_key = i.media_key and cur.position = i.position
        offset 0)
      on conflict (tweet_id, media_key) do update set position = excluded.position
        where t.position is distinct from excluded.position
      returning 1
    )`;
}
