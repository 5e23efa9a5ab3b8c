ALTER TABLE "tweets" ADD COLUMN "metrics_observed_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "metrics_observed_at" timestamp with time zone;--> statement-breakpoint
-- Rows written before: their counts were observed when the row last was.
UPDATE "tweets" SET "metrics_observed_at" = "observed_at" WHERE coalesce("like_count", "retweet_count", "reply_count", "quote_count", "bookmark_count", "view_count", "impression_count") IS NOT NULL;--> statement-breakpoint
UPDATE "users" SET "metrics_observed_at" = "observed_at" WHERE coalesce("followers_count", "following_count", "tweet_count", "listed_count", "like_count") IS NOT NULL;
