ALTER TABLE "watch_targets" DROP CONSTRAINT "watch_targets_state_check";--> statement-breakpoint
ALTER TABLE "crawl_checkpoints" ADD COLUMN "window_author_tweets" integer;--> statement-breakpoint
ALTER TABLE "crawl_checkpoints" ADD COLUMN "invalid_streak" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "watch_targets" ADD CONSTRAINT "watch_targets_state_check" CHECK ("watch_targets"."state" in ('active', 'not_found', 'suspended', 'protected', 'deleted', 'failing'));