-- The until_id an X window's remaining pages are asked with once its pagination token expired:
-- the window resumes strictly below the oldest tweet it read instead of from its top, so the
-- pages already read (and paid for in rate limit) are not asked for again. NULL on every row
-- stored before; only X has until_id, and only an open window has a bound.
ALTER TABLE "crawl_checkpoints" ADD COLUMN "window_until_id" bigint;--> statement-breakpoint
ALTER TABLE "crawl_checkpoints" ADD CONSTRAINT "crawl_checkpoints_window_until_check" CHECK ("crawl_checkpoints"."window_until_id" is null or ("crawl_checkpoints"."provider" = 'x' and "crawl_checkpoints"."window_started_at" is not null));
