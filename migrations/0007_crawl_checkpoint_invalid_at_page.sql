-- The window position of the bad bodies crawl_checkpoints.invalid_streak counts, so the streak
-- survives a window restarted from the top (an expired cursor) and the pages re-read above that
-- position: a bad page behind a cursor that expires between runs is counted once per run and
-- the target ends 'failing', instead of being bought again every interval for ever.
ALTER TABLE "crawl_checkpoints" ADD COLUMN "invalid_at_page" integer;
