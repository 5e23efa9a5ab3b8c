-- CHECK constraints on the columns whose values DESIGN.md's SQL contract or the providers'
-- documentation fix: media_faces.size (orig, large, medium, small), tweet_references.type
-- (X v2's replied_to, quoted, retweeted), every provider column (x, agntdata, as
-- watch_targets already had) and the counts, sizes and durations (never negative).
--
-- Rows already stored: each constraint is added NOT VALID, then validated below. birdfeed
-- itself never wrote a value they refuse (the provider schemas and the page's row check refuse
-- it first), so a violating row was written by hand. Rather than leave such a constraint
-- unvalidated (the bad rows would stay and keep breaking the analysts' SQL, unnoticed), the
-- migration fails with one error that lists, per table and constraint, how many rows violate
-- it and the SELECT that finds them. It runs in one transaction: nothing of it is applied,
-- the database stays as it was. Fix or delete those rows, then run `birdfeed migrate` again.
ALTER TABLE "crawl_checkpoints" ADD CONSTRAINT "crawl_checkpoints_provider_check" CHECK ("crawl_checkpoints"."provider" in ('x', 'agntdata')) NOT VALID;--> statement-breakpoint
ALTER TABLE "crawl_failures" ADD CONSTRAINT "crawl_failures_provider_check" CHECK ("crawl_failures"."provider" in ('x', 'agntdata')) NOT VALID;--> statement-breakpoint
ALTER TABLE "crawl_gaps" ADD CONSTRAINT "crawl_gaps_provider_check" CHECK ("crawl_gaps"."provider" in ('x', 'agntdata')) NOT VALID;--> statement-breakpoint
ALTER TABLE "crawl_runs" ADD CONSTRAINT "crawl_runs_provider_check" CHECK ("crawl_runs"."provider" in ('x', 'agntdata')) NOT VALID;--> statement-breakpoint
ALTER TABLE "provider_spend" ADD CONSTRAINT "provider_spend_provider_check" CHECK ("provider_spend"."provider" in ('x', 'agntdata')) NOT VALID;--> statement-breakpoint
ALTER TABLE "raw_pages" ADD CONSTRAINT "raw_pages_provider_check" CHECK ("raw_pages"."provider" in ('x', 'agntdata')) NOT VALID;--> statement-breakpoint
ALTER TABLE "media" ADD CONSTRAINT "media_nonnegative_check" CHECK ("media"."width" >= 0 and "media"."height" >= 0 and "media"."duration_ms" >= 0 and "media"."view_count" >= 0) NOT VALID;--> statement-breakpoint
ALTER TABLE "media_faces" ADD CONSTRAINT "media_faces_size_check" CHECK ("media_faces"."size" in ('orig', 'large', 'medium', 'small')) NOT VALID;--> statement-breakpoint
ALTER TABLE "tweet_metrics" ADD CONSTRAINT "tweet_metrics_counts_check" CHECK ("tweet_metrics"."like_count" >= 0 and "tweet_metrics"."retweet_count" >= 0 and "tweet_metrics"."reply_count" >= 0 and "tweet_metrics"."quote_count" >= 0 and "tweet_metrics"."bookmark_count" >= 0 and "tweet_metrics"."impression_count" >= 0 and "tweet_metrics"."view_count" >= 0) NOT VALID;--> statement-breakpoint
ALTER TABLE "tweet_references" ADD CONSTRAINT "tweet_references_type_check" CHECK ("tweet_references"."type" in ('replied_to', 'quoted', 'retweeted')) NOT VALID;--> statement-breakpoint
ALTER TABLE "tweets" ADD CONSTRAINT "tweets_counts_check" CHECK ("tweets"."like_count" >= 0 and "tweets"."retweet_count" >= 0 and "tweets"."reply_count" >= 0 and "tweets"."quote_count" >= 0 and "tweets"."bookmark_count" >= 0 and "tweets"."view_count" >= 0 and "tweets"."impression_count" >= 0) NOT VALID;--> statement-breakpoint
ALTER TABLE "user_metrics" ADD CONSTRAINT "user_metrics_counts_check" CHECK ("user_metrics"."followers_count" >= 0 and "user_metrics"."following_count" >= 0 and "user_metrics"."tweet_count" >= 0 and "user_metrics"."listed_count" >= 0 and "user_metrics"."like_count" >= 0) NOT VALID;--> statement-breakpoint
ALTER TABLE "users" ADD CONSTRAINT "users_counts_check" CHECK ("users"."followers_count" >= 0 and "users"."following_count" >= 0 and "users"."tweet_count" >= 0 and "users"."listed_count" >= 0 and "users"."like_count" >= 0) NOT VALID;--> statement-breakpoint
DO $$
DECLARE
  c record;
  bad bigint;
  report text := '';
BEGIN
  FOR c IN
    SELECT con.conname AS name, con.conrelid::regclass::text AS tbl,
      pg_get_expr(con.conbin, con.conrelid) AS expr
    FROM pg_constraint con
    WHERE con.contype = 'c' AND NOT con.convalidated
      AND con.conrelid::regclass::text IN ('crawl_checkpoints', 'crawl_failures', 'crawl_gaps', 'crawl_runs', 'media', 'media_faces', 'provider_spend', 'raw_pages', 'tweet_metrics', 'tweet_references', 'tweets', 'user_metrics', 'users')
      AND con.conname IN ('crawl_checkpoints_provider_check', 'crawl_failures_provider_check', 'crawl_gaps_provider_check', 'crawl_runs_provider_check', 'provider_spend_provider_check', 'raw_pages_provider_check', 'media_nonnegative_check', 'media_faces_size_check', 'tweet_metrics_counts_check', 'tweet_references_type_check', 'tweets_counts_check', 'user_metrics_counts_check', 'users_counts_check')
    ORDER BY con.conname
  LOOP
    BEGIN
      EXECUTE format('ALTER TABLE %s VALIDATE CONSTRAINT %I', c.tbl, c.name);
    EXCEPTION WHEN check_violation THEN
      EXECUTE format('SELECT count(*) FROM %s WHERE NOT (%s)', c.tbl, c.expr) INTO bad;
      report := report || format(E'\n  table %s, constraint %s: %s row(s); find them with: SELECT * FROM %s WHERE NOT (%s);',
        c.tbl, c.name, bad, c.tbl, c.expr);
    END;
  END LOOP;
  IF report <> '' THEN
    RAISE EXCEPTION 'rows stored earlier violate new CHECK constraints; fix or delete them, then run birdfeed migrate again:%', report
      USING ERRCODE = 'check_violation';
  END IF;
END $$;
