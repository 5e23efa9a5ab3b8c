import type { CanonicalTweet, CanonicalUser } from '@birdfeed/model';
import { type Statement as SQL, stmt as sql } from '../statement.ts';
import { arrayParam } from './unnest-upsert.ts';

interface HistorySpec<R> {
  table: 'tweet_metrics' | 'user_metrics';
  /** The entity table whose row holds the newest observation's metrics (same column names). */
  entity: 'tweets' | 'users';
  key: string;
  id(row: R): string;
  /**
   * `onlyOneProvider`: a metric one provider never reports (X's impression_count). The
   * entity's value of such a metric may be older than its observed_at (the newest page came
   * from the other provider), so the late-page row below leaves it unreported.
   */
  metrics: { name: string; value(row: R): number | undefined; onlyOneProvider?: boolean }[];
}

const tweetHistory: HistorySpec<CanonicalTweet> = {
  table: 'tweet_metrics',
  entity: 'tweets',
  key: 'tweet_id',
  id: (t) => t.id,
  metrics: [
    { name: 'like_count', value: (t) => t.likeCount },
    { name: 'retweet_count', value: (t) => t.retweetCount },
    { name: 'reply_count', value: (t) => t.replyCount },
    { name: 'quote_count', value: (t) => t.quoteCount },
    { name: 'bookmark_count', value: (t) => t.bookmarkCount },
    { name: 'impression_count', value: (t) => t.impressionCount, onlyOneProvider: true },
    { name: 'view_count', value: (t) => t.viewCount },
  ],
};

const userHistory: HistorySpec<CanonicalUser> = {
  table: 'user_metrics',
  entity: 'users',
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
 * observation did not report is not a change. The first observation of a row always counts:
 * rows the entity CTE `created` go in by a plain INSERT (`<name>_fresh`, no lookup, no ON
 * CONFLICT); the others (`<name>`) look up their previous observation per row (`offset 0`
 * keeps Postgres from turning the lookup into a hashed subplan over the whole table).
 *
 * A late observation (a page written after a newer one) that differs from the row before it
 * would otherwise say its value held until the next history row — or forever, when the newer
 * observations were unchanged and so left no row. `<name>_after` then also writes the entity's
 * newest values (the row in `tweets`/`users`, as it was before this statement) at their own
 * time (`metrics_observed_at`: a partial observation that reported no count moves only
 * `observed_at`), when no history row follows the late one and they differ from it: t0=10, t2=10 (no
 * row: unchanged), t1=20 written last gives 10@t0, 20@t1, 10@t2 instead of 10@t0, 20@t1.
 * And when the history row right after a late one holds the very same values, it no longer
 * marks a change and `<name>_redundant` deletes it: 20@t2 written first (say, by the worker
 * whose page was fetched second), then 20@t1, leaves 20@t1 alone, not two identical rows.
 * Only with `collapse`: the statement must run after every other writer of its rows has
 * committed (the history locks of upsertPage). A writer without them (`birdfeed ingest`, in
 * its file's transaction) could judge from a snapshot that misses a row another writer is
 * committing — 30@t1.5 in flight, it would delete 20@t2 as equal to its 20@t1, and the
 * history would say 30 from t1.5 on. Without it, two identical rows are harmless to read.
 * Count the three inserting CTEs.
 */
/** Rows that report at least one metric: the ones whose history a page may extend. */
function reporting<R>(spec: HistorySpec<R>, rows: R[]): R[] {
  return rows.filter((row) => spec.metrics.some((m) => m.value(row) !== undefined));
}

function reportingIds<R>(spec: HistorySpec<R>, rows: R[]): string[] {
  return reporting(spec, rows).map(spec.id);
}

export const tweetsReportingMetrics = (tweets: CanonicalTweet[]) =>
  reportingIds(tweetHistory, tweets);
export const usersReportingMetrics = (users: CanonicalUser[]) => reportingIds(userHistory, users);

export interface HistoryOptions {
  /** Delete the history row a late one makes redundant (see above). */
  collapse: boolean;
}

function historyCte<R>(
  spec: HistorySpec<R>,
  rows: R[],
  observedAt: Date,
  name: string,
  entityCte: string,
  options: HistoryOptions,
): SQL | null {
  const observed = reporting(spec, rows);
  if (observed.length === 0) return null;
  const names = spec.metrics.map((m) => m.name);
  // The previous observation "matches" when every metric this one reported is equal to it.
  const matches = names.map((n) => `(i.${n} is null or i.${n} = p.${n})`).join(' and ');
  // The newest stored values "match" the late row where either side has no value.
  const shared = spec.metrics.filter((m) => m.onlyOneProvider !== true).map((m) => m.name);
  const lateMatches = shared
    .map((n) => `(l.${n} is null or e.${n} is null or l.${n} = e.${n})`)
    .join(' and ');
  const lateValues = spec.metrics
    .map((m) => (m.onlyOneProvider === true ? 'null' : `e.${m.name}`))
    .join(', ');
  const params = [
    arrayParam(
      'bigint',
      observed.map((row) => spec.id(row)),
    ),
    ...spec.metrics.map((metric) =>
      arrayParam(
        'bigint',
        observed.map((row) => metric.value(row)),
      ),
    ),
  ];
  const at = observedAt.toISOString();
  const columns = `${spec.key}, observed_at, ${names.join(', ')}`;
  const values = `i.id, i.observed_at, ${names.map((n) => `i.${n}`).join(', ')}`;
  return sql.join([
    sql.raw(`${name}_in as (select i.*, `),
    sql`${at}::timestamptz`,
    sql.raw(' as observed_at, e.created from unnest('),
    sql.join(params, sql.raw(', ')),
    sql.raw(
      `) as i(id, ${names.join(', ')}) join ${entityCte} e on e.k = i.id), ` +
        `${name}_fresh as (insert into ${spec.table} (${columns}) select ${values} from ${name}_in i where i.created returning 1), ` +
        `${name} as (insert into ${spec.table} (${columns}) select ${values} from ${name}_in i where not i.created and not exists (select 1 from (select * from ${spec.table} m where m.${spec.key} = i.id and m.observed_at <= i.observed_at order by m.observed_at desc limit 1) p where ${matches} offset 0) on conflict do nothing returning ${columns}), ` +
        `${name}_after as (insert into ${spec.table} (${columns}) select e.id, e.metrics_observed_at, ${lateValues} from ${name} l join ${spec.entity} e on e.id = l.${spec.key} where e.metrics_observed_at > l.observed_at and not (${lateMatches}) and not exists (select 1 from ${spec.table} m where m.${spec.key} = l.${spec.key} and m.observed_at > l.observed_at) on conflict do nothing returning 1)` +
        (options.collapse
          ? `, ${name}_redundant as (delete from ${spec.table} m using ${name} l where m.${spec.key} = l.${spec.key} and m.observed_at = (select min(n.observed_at) from ${spec.table} n where n.${spec.key} = l.${spec.key} and n.observed_at > l.observed_at) and ${names.map((n) => `m.${n} is not distinct from l.${n}`).join(' and ')})`
          : ''),
    ),
  ]);
}

export function tweetMetricsCte(
  tweets: CanonicalTweet[],
  observedAt: Date,
  name: string,
  tweetsCte: string,
  options: HistoryOptions,
): SQL | null {
  return historyCte(tweetHistory, tweets, observedAt, name, tweetsCte, options);
}

export function userMetricsCte(
  users: CanonicalUser[],
  observedAt: Date,
  name: string,
  usersCte: string,
  options: HistoryOptions,
): SQL | null {
  return historyCte(userHistory, users, observedAt, name, usersCte, options);
}
