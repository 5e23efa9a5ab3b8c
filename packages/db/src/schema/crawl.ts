import { PROVIDER_NAMES } from '@birdfeed/model';
import { sql } from 'drizzle-orm';
import {
  boolean,
  check,
  date,
  index,
  integer,
  interval,
  pgSequence,
  pgTable,
  primaryKey,
  text,
  timestamp,
} from 'drizzle-orm/pg-core';
import { oneOf, snowflake } from './columns.ts';

const at = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/*
 * Serial ids (runs, failures, gaps, raw pages) are plain bigint columns fed by a sequence,
 * which is what `bigserial` expands to. drizzle's own bigserial would hand them to TypeScript
 * as a number or a BigInt; as decimal strings they read like every other id in the model.
 */
export const crawlRunsIdSeq = pgSequence('crawl_runs_id_seq');
export const crawlFailuresIdSeq = pgSequence('crawl_failures_id_seq');
export const crawlGapsIdSeq = pgSequence('crawl_gaps_id_seq');
export const rawPagesIdSeq = pgSequence('raw_pages_id_seq');

/** The watchlist: who to crawl, on which provider, how often. */
export const watchTargets = pgTable(
  'watch_targets',
  {
    provider: text('provider').notNull(),
    userId: snowflake('user_id').notNull(),
    username: text('username'),
    interval: interval('interval').notNull().default('15 minutes'),
    enabled: boolean('enabled').notNull().default(true),
    tags: text('tags').array().notNull().default(sql`'{}'::text[]`),
    priority: integer('priority').notNull().default(0),
    backfillDepth: integer('backfill_depth').notNull().default(800),
    /**
     * 'active' | 'not_found' | 'suspended' | 'protected' | 'deleted' (the provider said so) |
     * 'failing' (the same page failed validation again and again, or run after run gave its window
     * up on empty pages before listing a tweet: buying those pages once more will not help)
     */
    state: text('state').notNull().default('active'),
    stateReason: text('state_reason'),
    nextDueAt: at('next_due_at').notNull().defaultNow(),
    lastRunAt: at('last_run_at'),
    createdAt: at('created_at').notNull().defaultNow(),
    updatedAt: at('updated_at').notNull().defaultNow(),
  },
  (table) => [
    primaryKey({ columns: [table.provider, table.userId] }),
    index('watch_targets_due_idx').on(table.nextDueAt),
    check('watch_targets_provider_check', oneOf(table.provider, PROVIDER_NAMES)),
    check(
      'watch_targets_state_check',
      sql`${table.state} in ('active', 'not_found', 'suspended', 'protected', 'deleted', 'failing')`,
    ),
  ],
);

/**
 * How far a (provider, user) timeline has been read. `since_id`: every tweet with a smaller or
 * equal id the provider would return is stored. The window columns describe the run in
 * progress, so a crash resumes from `cursor`.
 */
export const crawlCheckpoints = pgTable(
  'crawl_checkpoints',
  {
    provider: text('provider').notNull(),
    userId: snowflake('user_id').notNull(),
    sinceId: snowflake('since_id'),
    windowNewestId: snowflake('window_newest_id'),
    cursor: text('cursor'),
    windowStartedAt: at('window_started_at'),
    windowPages: integer('window_pages').notNull().default(0),
    backfillDone: boolean('backfill_done').notNull().default(false),
    backfillFetched: integer('backfill_fetched').notNull().default(0),
    /**
     * X only: the account's tweet_count as the window's first page reported it. Tweets posted
     * while the window is read push X's 3,200-tweet floor up by as many, so a window that
     * fetched fewer than 3,200 may still have hit the cap (see crawl-page.ts).
     */
    windowAuthorTweets: integer('window_author_tweets'),
    /**
     * The smallest timeline id the window has listed so far: the oldest end of a gap when the
     * window runs out before since_id (its last page may be empty).
     */
    windowOldestId: snowflake('window_oldest_id'),
    /**
     * Pages in a row that came back empty with a next token. agntdata bills each one: after
     * a few the window ends (crawl-page.ts, EMPTY_PAGES_BEFORE_END).
     */
    windowEmptyPages: integer('window_empty_pages').notNull().default(0),
    /**
     * X only: the `until_id` every request of the window carries while it is set. An expired
     * pagination token does not send the window back to its top: the pages read so far are
     * contiguous from `window_newest_id` down to `window_oldest_id`, so the rest is asked for
     * strictly below the oldest (crawl-page.ts). NULL: no bound (a window read from its top).
     */
    windowUntilId: snowflake('window_until_id'),
    /**
     * Bad bodies (invalid, or billed and broken off) in a row at the window position
     * `invalid_at_page`, across window restarts and runs: reset only when a page at or past
     * that position is written or the window completes. At INVALID_PAGES_BEFORE_FAILING the
     * target is marked 'failing' instead of buying the same bad page again every interval.
     */
    invalidStreak: integer('invalid_streak').notNull().default(0),
    /** The window position (pages read before it) of the bad bodies `invalid_streak` counts. */
    invalidAtPage: integer('invalid_at_page'),
    /**
     * Windows in a row, across runs, given up on empty pages (EMPTY_PAGES_BEFORE_END of them,
     * each with a next token) before they listed a single tweet: such a window moves nothing,
     * records no gap, and the next run buys the same pages again. Reset when a page lists a
     * tweet or a window completes otherwise, and by `watchlist enable`; at
     * EMPTY_GIVEUPS_BEFORE_FAILING the target is marked 'failing' (crawl-page.ts).
     */
    emptyGiveups: integer('empty_giveups').notNull().default(0),
    runId: snowflake('run_id'),
    updatedAt: at('updated_at').notNull().defaultNow(),
  },
  (table) => [
    primaryKey({ columns: [table.provider, table.userId] }),
    check('crawl_checkpoints_provider_check', oneOf(table.provider, PROVIDER_NAMES)),
    // agntdata has no until_id; a bound outside an open window would hold the next one back.
    check(
      'crawl_checkpoints_window_until_check',
      sql`${table.windowUntilId} is null or (${table.provider} = 'x' and ${table.windowStartedAt} is not null)`,
    ),
    check('crawl_checkpoints_empty_giveups_check', sql`${table.emptyGiveups} >= 0`),
  ],
);

/** One row per crawl run of one timeline. */
export const crawlRuns = pgTable(
  'crawl_runs',
  {
    id: snowflake('id').primaryKey().default(sql`nextval('crawl_runs_id_seq')`),
    provider: text('provider').notNull(),
    userId: snowflake('user_id').notNull(),
    /** 'backfill' | 'incremental' */
    kind: text('kind').notNull(),
    startedAt: at('started_at').notNull().defaultNow(),
    finishedAt: at('finished_at'),
    pages: integer('pages').notNull().default(0),
    requests: integer('requests').notNull().default(0),
    tweetsNew: integer('tweets_new').notNull().default(0),
    tweetsUpdated: integer('tweets_updated').notNull().default(0),
    costCents: integer('cost_cents').notNull().default(0),
    /** 'running' | 'succeeded' | 'failed' | 'unavailable' | 'cancelled' */
    outcome: text('outcome').notNull().default('running'),
    error: text('error'),
  },
  (table) => [
    index('crawl_runs_provider_user_started_idx').on(table.provider, table.userId, table.startedAt),
    check('crawl_runs_provider_check', oneOf(table.provider, PROVIDER_NAMES)),
  ],
);

/** Every failed page attempt, kept so failures stay visible after the job is gone. */
export const crawlFailures = pgTable(
  'crawl_failures',
  {
    id: snowflake('id').primaryKey().default(sql`nextval('crawl_failures_id_seq')`),
    runId: snowflake('run_id'),
    provider: text('provider').notNull(),
    userId: snowflake('user_id').notNull(),
    jobId: text('job_id'),
    attempt: integer('attempt').notNull().default(1),
    errorName: text('error_name').notNull(),
    errorMessage: text('error_message').notNull(),
    status: integer('status'),
    rawPageId: snowflake('raw_page_id'),
    failedAt: at('failed_at').notNull().defaultNow(),
  },
  (table) => [
    index('crawl_failures_provider_user_idx').on(table.provider, table.userId, table.failedAt),
    check('crawl_failures_provider_check', oneOf(table.provider, PROVIDER_NAMES)),
  ],
);

/** A stretch of timeline the provider can no longer serve (X's 3,200-tweet cap), recorded. */
export const crawlGaps = pgTable(
  'crawl_gaps',
  {
    id: snowflake('id').primaryKey().default(sql`nextval('crawl_gaps_id_seq')`),
    provider: text('provider').notNull(),
    userId: snowflake('user_id').notNull(),
    /** The checkpoint's since_id when the gap was found. */
    sinceId: snowflake('since_id'),
    /** The oldest tweet the provider still returned. */
    oldestId: snowflake('oldest_id'),
    reason: text('reason').notNull(),
    detectedAt: at('detected_at').notNull().defaultNow(),
  },
  (table) => [
    index('crawl_gaps_provider_user_idx').on(table.provider, table.userId),
    check('crawl_gaps_provider_check', oneOf(table.provider, PROVIDER_NAMES)),
  ],
);

/** Every fetched body as received, so a better normalizer can replay history. */
export const rawPages = pgTable(
  'raw_pages',
  {
    id: snowflake('id').primaryKey().default(sql`nextval('raw_pages_id_seq')`),
    provider: text('provider').notNull(),
    userId: snowflake('user_id').notNull(),
    runId: snowflake('run_id'),
    fetchedAt: at('fetched_at').notNull().defaultNow(),
    /** Never carries a credential: clients build it without one. */
    requestUrl: text('request_url').notNull(),
    status: integer('status').notNull(),
    /** Text, not jsonb: an invalid body is kept too, exactly as it came. */
    body: text('body').notNull(),
    error: text('error'),
  },
  (table) => [
    index('raw_pages_provider_user_idx').on(table.provider, table.userId),
    check('raw_pages_provider_check', oneOf(table.provider, PROVIDER_NAMES)),
  ],
);

/** Requests and cost per provider and UTC day, for budgets. */
export const providerSpend = pgTable(
  'provider_spend',
  {
    provider: text('provider').notNull(),
    day: date('day', { mode: 'string' }).notNull(),
    requests: integer('requests').notNull().default(0),
    costCents: integer('cost_cents').notNull().default(0),
  },
  (table) => [
    primaryKey({ columns: [table.provider, table.day] }),
    check('provider_spend_provider_check', oneOf(table.provider, PROVIDER_NAMES)),
  ],
);
