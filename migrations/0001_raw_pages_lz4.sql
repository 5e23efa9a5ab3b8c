-- raw_pages.body compressed with lz4 instead of the default pglz: a 125 KB response body costs
-- 1.6-2.2 ms of Postgres CPU to compress with pglz and 0.24 ms with lz4 (measured), on every
-- page the crawl writes. Only values stored from now on are affected. A server built without
-- lz4 (PGlite) keeps pglz rather than failing the migration.
DO $$
BEGIN
  ALTER TABLE "raw_pages" ALTER COLUMN "body" SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
  RAISE NOTICE 'raw_pages.body keeps pglz: this server has no lz4 support';
END
$$;
