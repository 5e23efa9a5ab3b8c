-- Windows in a row, across runs, that were given up on empty pages (10 in a row on X, 3 on
-- agntdata, each with a next token) before they listed any tweet. Such a window moves nothing
-- and records no gap, so each scheduled run bought the same pages again, unseen; counted, the
-- third in a row marks the target 'failing' (with the command that re-enables it), as the
-- invalid-body streak does. 0 on every row stored before: no such window was counted yet.
ALTER TABLE "crawl_checkpoints" ADD COLUMN "empty_giveups" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "crawl_checkpoints" ADD CONSTRAINT "crawl_checkpoints_empty_giveups_check" CHECK ("crawl_checkpoints"."empty_giveups" >= 0);