import { defineConfig } from 'drizzle-kit';

/**
 * drizzle-kit generates SQL migrations from the schema into migrations/; they are committed
 * and append-only. Regenerate with: pnpm --filter @birdfeed/db exec drizzle-kit generate
 * --config ../../drizzle.config.ts (or `pnpm exec drizzle-kit generate` from packages/db).
 */
export default defineConfig({
  dialect: 'postgresql',
  schema: './packages/db/src/schema/index.ts',
  out: './migrations',
});
