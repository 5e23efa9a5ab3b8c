ALTER TABLE "media" ADD COLUMN "faces_observed_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "media" ADD COLUMN "focus_rects_observed_at" timestamp with time zone;