CREATE SEQUENCE "public"."crawl_failures_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1;--> statement-breakpoint
CREATE SEQUENCE "public"."crawl_gaps_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1;--> statement-breakpoint
CREATE SEQUENCE "public"."crawl_runs_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1;--> statement-breakpoint
CREATE SEQUENCE "public"."raw_pages_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1;--> statement-breakpoint
CREATE TABLE "crawl_checkpoints" (
	"provider" text NOT NULL,
	"user_id" bigint NOT NULL,
	"since_id" bigint,
	"window_newest_id" bigint,
	"cursor" text,
	"window_started_at" timestamp with time zone,
	"window_pages" integer DEFAULT 0 NOT NULL,
	"backfill_done" boolean DEFAULT false NOT NULL,
	"backfill_fetched" integer DEFAULT 0 NOT NULL,
	"run_id" bigint,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "crawl_checkpoints_provider_user_id_pk" PRIMARY KEY("provider","user_id")
);
--> statement-breakpoint
CREATE TABLE "crawl_failures" (
	"id" bigint PRIMARY KEY DEFAULT nextval('crawl_failures_id_seq') NOT NULL,
	"run_id" bigint,
	"provider" text NOT NULL,
	"user_id" bigint NOT NULL,
	"job_id" text,
	"attempt" integer DEFAULT 1 NOT NULL,
	"error_name" text NOT NULL,
	"error_message" text NOT NULL,
	"status" integer,
	"raw_page_id" bigint,
	"failed_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "crawl_gaps" (
	"id" bigint PRIMARY KEY DEFAULT nextval('crawl_gaps_id_seq') NOT NULL,
	"provider" text NOT NULL,
	"user_id" bigint NOT NULL,
	"since_id" bigint,
	"oldest_id" bigint,
	"reason" text NOT NULL,
	"detected_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "crawl_runs" (
	"id" bigint PRIMARY KEY DEFAULT nextval('crawl_runs_id_seq') NOT NULL,
	"provider" text NOT NULL,
	"user_id" bigint NOT NULL,
	"kind" text NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	"pages" integer DEFAULT 0 NOT NULL,
	"requests" integer DEFAULT 0 NOT NULL,
	"tweets_new" integer DEFAULT 0 NOT NULL,
	"tweets_updated" integer DEFAULT 0 NOT NULL,
	"cost_cents" integer DEFAULT 0 NOT NULL,
	"outcome" text DEFAULT 'running' NOT NULL,
	"error" text
);
--> statement-breakpoint
CREATE TABLE "provider_spend" (
	"provider" text NOT NULL,
	"day" date NOT NULL,
	"requests" integer DEFAULT 0 NOT NULL,
	"cost_cents" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "provider_spend_provider_day_pk" PRIMARY KEY("provider","day")
);
--> statement-breakpoint
CREATE TABLE "raw_pages" (
	"id" bigint PRIMARY KEY DEFAULT nextval('raw_pages_id_seq') NOT NULL,
	"provider" text NOT NULL,
	"user_id" bigint NOT NULL,
	"run_id" bigint,
	"fetched_at" timestamp with time zone DEFAULT now() NOT NULL,
	"request_url" text NOT NULL,
	"status" integer NOT NULL,
	"body" text NOT NULL,
	"error" text
);
--> statement-breakpoint
CREATE TABLE "watch_targets" (
	"provider" text NOT NULL,
	"user_id" bigint NOT NULL,
	"username" text,
	"interval" interval DEFAULT '15 minutes' NOT NULL,
	"enabled" boolean DEFAULT true NOT NULL,
	"tags" text[] DEFAULT '{}'::text[] NOT NULL,
	"priority" integer DEFAULT 0 NOT NULL,
	"backfill_depth" integer DEFAULT 800 NOT NULL,
	"state" text DEFAULT 'active' NOT NULL,
	"state_reason" text,
	"next_due_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_run_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "watch_targets_provider_user_id_pk" PRIMARY KEY("provider","user_id"),
	CONSTRAINT "watch_targets_provider_check" CHECK ("watch_targets"."provider" in ('x', 'agntdata')),
	CONSTRAINT "watch_targets_state_check" CHECK ("watch_targets"."state" in ('active', 'not_found', 'suspended', 'protected', 'deleted'))
);
--> statement-breakpoint
CREATE TABLE "media" (
	"media_key" text PRIMARY KEY NOT NULL,
	"type" text,
	"url" text,
	"preview_image_url" text,
	"width" integer,
	"height" integer,
	"alt_text" text,
	"duration_ms" integer,
	"view_count" bigint,
	"variants" jsonb,
	"sizes" jsonb,
	"observed_at" timestamp with time zone NOT NULL,
	"first_seen_at" timestamp with time zone NOT NULL,
	"last_seen_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "media_faces" (
	"media_key" text NOT NULL,
	"size" text NOT NULL,
	"idx" integer NOT NULL,
	"x" integer NOT NULL,
	"y" integer NOT NULL,
	"w" integer NOT NULL,
	"h" integer NOT NULL,
	CONSTRAINT "media_faces_media_key_size_idx_pk" PRIMARY KEY("media_key","size","idx")
);
--> statement-breakpoint
CREATE TABLE "media_focus_rects" (
	"media_key" text NOT NULL,
	"idx" integer NOT NULL,
	"x" integer NOT NULL,
	"y" integer NOT NULL,
	"w" integer NOT NULL,
	"h" integer NOT NULL,
	CONSTRAINT "media_focus_rects_media_key_idx_pk" PRIMARY KEY("media_key","idx")
);
--> statement-breakpoint
CREATE TABLE "tweet_media" (
	"tweet_id" bigint NOT NULL,
	"media_key" text NOT NULL,
	"position" integer NOT NULL,
	CONSTRAINT "tweet_media_tweet_id_media_key_pk" PRIMARY KEY("tweet_id","media_key")
);
--> statement-breakpoint
CREATE TABLE "tweet_metrics" (
	"tweet_id" bigint NOT NULL,
	"observed_at" timestamp with time zone NOT NULL,
	"like_count" bigint,
	"retweet_count" bigint,
	"reply_count" bigint,
	"quote_count" bigint,
	"bookmark_count" bigint,
	"impression_count" bigint,
	"view_count" bigint,
	CONSTRAINT "tweet_metrics_tweet_id_observed_at_pk" PRIMARY KEY("tweet_id","observed_at")
);
--> statement-breakpoint
CREATE TABLE "tweet_references" (
	"tweet_id" bigint NOT NULL,
	"type" text NOT NULL,
	"referenced_tweet_id" bigint NOT NULL,
	CONSTRAINT "tweet_references_tweet_id_type_referenced_tweet_id_pk" PRIMARY KEY("tweet_id","type","referenced_tweet_id")
);
--> statement-breakpoint
CREATE TABLE "tweets" (
	"id" bigint PRIMARY KEY NOT NULL,
	"author_id" bigint,
	"created_at" timestamp with time zone,
	"text" text,
	"lang" text,
	"conversation_id" bigint,
	"in_reply_to_tweet_id" bigint,
	"in_reply_to_user_id" bigint,
	"quoted_tweet_id" bigint,
	"retweeted_tweet_id" bigint,
	"like_count" bigint,
	"retweet_count" bigint,
	"reply_count" bigint,
	"quote_count" bigint,
	"bookmark_count" bigint,
	"view_count" bigint,
	"impression_count" bigint,
	"source" text,
	"possibly_sensitive" boolean,
	"entities" jsonb,
	"edit_history_tweet_ids" bigint[],
	"from_timeline" boolean DEFAULT false NOT NULL,
	"observed_at" timestamp with time zone NOT NULL,
	"first_seen_at" timestamp with time zone NOT NULL,
	"last_seen_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "user_metrics" (
	"user_id" bigint NOT NULL,
	"observed_at" timestamp with time zone NOT NULL,
	"followers_count" bigint,
	"following_count" bigint,
	"tweet_count" bigint,
	"listed_count" bigint,
	"like_count" bigint,
	CONSTRAINT "user_metrics_user_id_observed_at_pk" PRIMARY KEY("user_id","observed_at")
);
--> statement-breakpoint
CREATE TABLE "users" (
	"id" bigint PRIMARY KEY NOT NULL,
	"username" text,
	"name" text,
	"description" text,
	"location" text,
	"url" text,
	"profile_image_url" text,
	"followers_count" bigint,
	"following_count" bigint,
	"tweet_count" bigint,
	"listed_count" bigint,
	"like_count" bigint,
	"verified" boolean,
	"verified_type" text,
	"protected" boolean,
	"created_at" timestamp with time zone,
	"observed_at" timestamp with time zone NOT NULL,
	"first_seen_at" timestamp with time zone NOT NULL,
	"last_seen_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE INDEX "crawl_failures_provider_user_idx" ON "crawl_failures" USING btree ("provider","user_id","failed_at");--> statement-breakpoint
CREATE INDEX "crawl_gaps_provider_user_idx" ON "crawl_gaps" USING btree ("provider","user_id");--> statement-breakpoint
CREATE INDEX "crawl_runs_provider_user_started_idx" ON "crawl_runs" USING btree ("provider","user_id","started_at");--> statement-breakpoint
CREATE INDEX "raw_pages_provider_user_idx" ON "raw_pages" USING btree ("provider","user_id");--> statement-breakpoint
CREATE INDEX "watch_targets_due_idx" ON "watch_targets" USING btree ("next_due_at");--> statement-breakpoint
CREATE INDEX "tweet_media_media_key_idx" ON "tweet_media" USING btree ("media_key");--> statement-breakpoint
CREATE INDEX "tweet_references_referenced_idx" ON "tweet_references" USING btree ("referenced_tweet_id");--> statement-breakpoint
CREATE INDEX "tweets_author_id_id_idx" ON "tweets" USING btree ("author_id","id" desc);--> statement-breakpoint
CREATE INDEX "tweets_conversation_id_idx" ON "tweets" USING btree ("conversation_id");--> statement-breakpoint
CREATE INDEX "users_username_idx" ON "users" USING btree (lower("username"));