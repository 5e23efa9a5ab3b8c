import type { CanonicalTweet, CanonicalUser } from '@birdfeed/model';
import { sql } from 'drizzle-orm';
import { type BirdfeedExecutor, executePrepared } from '../database.ts';
import { arrayParam, chunk } from './unnest-upsert.ts';

interface HistorySpec<R> {
  table: 'tweet_metrics' | 'user_metrics';
  key: string;
  id(row: R): string;
  metrics: { name: string; value(row: R): number | undefined }[];
}

const tweetHistory: HistorySpec<CanonicalTweet> = {
  table: 'tweet_metrics',
  key: 'tweet_id',
  id: (t) => t.id,
  metrics: [
    { name: 'like_count', value: (t) => t.likeCount },
    { name: 'retweet_count', value: (t) => t.retweetCount },
    { name: 'reply_count', value: (t) => t.replyCount },
    { name: 'quote_count', value: (t) => t.quoteCount },
    { name: 'bookmark_count', value: (t) => t.bookmarkCount },
    { name: 'impression_count', value: (t) => t.impressionCount },
    { name: 'view_count', value: (t) => t.viewCount },
  ],
};

const userHistory: HistorySpec<CanonicalUser> = {
  table: 'user_metrics',
  key: 'user_id',
  id: (u) => u.id,
  metrics: [
    { name: 'followers_count', value: (u) => u.followersCount },
    { name: 'following_count', value: (u) => u.followingCount },
    { name: 'tweet_count', value: (u) => u.tweetCount },
    { name: 'listed_count', value: (u) => u.listedCount },
    { name: 'like_count', value: (u) => u.likeCount },
  ],
};

/**
 * Appends a history row for each row whose reported metrics differ from the observation just
 * before it in time (not the last one written: pages may be written out of order). A field the
 * observation did not report is not a change. The first observation of a row always counts;
 * rows `created` by this transaction skip the lookup (the OR keeps it a per-row subplan,
 * evaluated only for existing rows).
 */
async function appendHistory<R>(
  db: BirdfeedExecutor,
  spec: HistorySpec<R>,
  rows: R[],
  observedAt: Date,
  created: ReadonlySet<string>,
): Promise<number> {
  const observed = rows.filter((row) => spec.metrics.some((m) => m.value(row) !== undefined));
  let written = 0;
  const names = spec.metrics.map((m) => m.name);
  // The previous observation "matches" when every metric this one reported is equal to it.
  const matches = names.map((name) => `(i.${name} is null or i.${name} = p.${name})`).join(' and ');
  for (const part of chunk(observed)) {
    const params = [
      arrayParam(
        'bigint',
        part.map((row) => spec.id(row)),
      ),
      ...spec.metrics.map((metric) =>
        arrayParam(
          'bigint',
          part.map((row) => metric.value(row)),
        ),
      ),
      arrayParam(
        'boolean',
        part.map((row) => created.has(spec.id(row))),
      ),
    ];
    const at = observedAt.toISOString();
    const statement = sql.join([
      sql.raw(
        `with written as (insert into ${spec.table} (${spec.key}, observed_at, ${names.join(', ')}) select i.id, `,
      ),
      sql`${at}::timestamptz`,
      sql.raw(`, ${names.map((name) => `i.${name}`).join(', ')} from unnest(`),
      sql.join(params, sql.raw(', ')),
      sql.raw(
        `) as i(id, ${names.join(', ')}, created) where i.created or not exists (select 1 from (select * from ${spec.table} m where m.${spec.key} = i.id and m.observed_at <= `,
      ),
      sql`${at}::timestamptz`,
      sql.raw(
        ` order by m.observed_at desc limit 1) p where ${matches} offset 0) on conflict do nothing returning 1) select count(*) as n from written`,
      ),
    ]);
    const [row] = await executePrepared<{ n: number | string }>(db, statement);
    written += Number(row?.n ?? 0);
  }
  return written;
}

export function appendTweetMetrics(
  db: BirdfeedExecutor,
  tweets: CanonicalTweet[],
  observedAt: Date,
  created: ReadonlySet<string> = new Set(),
): Promise<number> {
  return appendHistory(db, tweetHistory, tweets, observedAt, created);
}

export function appendUserMetrics(
  db: BirdfeedExecutor,
  users: CanonicalUser[],
  observedAt: Date,
  created: ReadonlySet<string> = new Set(),
): Promise<number> {
  return appendHistory(db, userHistory, users, observedAt, created);
}
