ALTER TABLE "crawl_checkpoints" ADD COLUMN "window_oldest_id" bigint;--> statement-breakpoint
ALTER TABLE "crawl_checkpoints" ADD COLUMN "window_empty_pages" integer DEFAULT 0 NOT NULL;