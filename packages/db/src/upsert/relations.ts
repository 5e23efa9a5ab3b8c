import { sql } from 'drizzle-orm';
import { type BirdfeedExecutor, executePrepared } from '../database.ts';
import type { PageRows } from './page-rows.ts';
import { arrayParam, chunk } from './unnest-upsert.ts';

async function countOf(db: BirdfeedExecutor, statement: ReturnType<typeof sql>): Promise<number> {
  const [row] = await executePrepared<{ n: number | string }>(db, statement);
  return Number(row?.n ?? 0);
}

/** Reply/quote/retweet edges. They are facts: written once, never removed by a later page. */
export async function upsertReferences(
  db: BirdfeedExecutor,
  references: PageRows['references'],
): Promise<number> {
  let written = 0;
  for (const part of chunk(references)) {
    written += await countOf(
      db,
      sql`with written as (
        insert into tweet_references (tweet_id, type, referenced_tweet_id)
        select * from unnest(${arrayParam(
          'bigint',
          part.map((r) => r.tweetId),
        )}, ${arrayParam(
          'text',
          part.map((r) => r.type),
        )}, ${arrayParam(
          'bigint',
          part.map((r) => r.referencedTweetId),
        )})
        on conflict do nothing
        returning 1)
      select count(*) as n from written`,
    );
  }
  return written;
}

/**
 * Tweet ↔ media links with their position. An unchanged link is filtered out by a plain read
 * before the insert: ON CONFLICT would lock it even to leave it alone.
 */
export async function upsertTweetMedia(
  db: BirdfeedExecutor,
  links: PageRows['tweetMedia'],
  newTweetIds: ReadonlySet<string>,
): Promise<number> {
  let written = 0;
  for (const part of chunk(links)) {
    written += await countOf(
      db,
      sql`with written as (
        insert into tweet_media as t (tweet_id, media_key, position)
        select i.tweet_id, i.media_key, i.position from unnest(${arrayParam(
          'bigint',
          part.map((l) => l.tweetId),
        )}, ${arrayParam(
          'text',
          part.map((l) => l.mediaKey),
        )}, ${arrayParam(
          'integer',
          part.map((l) => l.position),
        )}, ${arrayParam(
          'boolean',
          part.map((l) => newTweetIds.has(l.tweetId)),
        )}) as i(tweet_id, media_key, position, created)
        where i.created or not exists (select 1 from tweet_media cur
          where cur.tweet_id = i.tweet_id and cur.media_key = i.media_key and cur.position = i.position
          offset 0)
        on conflict (tweet_id, media_key) do update set position = excluded.position
        where t.position is distinct from excluded.position
        returning 1)
      select count(*) as n from written`,
    );
  }
  return written;
}
