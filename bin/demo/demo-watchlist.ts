import { type BirdfeedDb, getTarget, rowsOf, sql, upsertTarget } from '@birdfeed/db';
import type { ProviderName } from '@birdfeed/model';
import { z } from 'zod';

/**
 * The demo watchlist: the first active sandbox accounts, alternately watched through X and
 * agntdata so both providers are exercised. Read from the sandbox over HTTP (the same call
 * works in-process and against the compose `sandbox` service).
 */
const accountsSchema = z.object({
  accounts: z.array(
    z.object({
      id: z.string().regex(/^\d+$/),
      username: z.string(),
      status: z.string(),
    }),
  ),
});

export interface DemoTarget {
  provider: ProviderName;
  userId: string;
  username: string;
}

export class SandboxAccountsError extends Error {
  override readonly name = 'SandboxAccountsError';
}

/**
 * How many sandbox accounts the demo starts to watch `count` of: in every block of 20 the
 * sandbox makes three accounts protected, suspended or deleted, so 17 in 20 are active; two
 * more than asked leave room for its special accounts (one starts empty).
 */
export function sandboxAccountsFor(count: number): number {
  return Math.ceil(((count + 2) * 20) / 17);
}

export async function pickDemoTargets(sandboxUrl: string, count: number): Promise<DemoTarget[]> {
  const url = new URL('/_sandbox/accounts', sandboxUrl);
  let body: unknown;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    body = await response.json();
  } catch (error) {
    throw new SandboxAccountsError(
      `cannot list the sandbox accounts at ${url.href}: ${(error as Error).message}`,
    );
  }
  const parsed = accountsSchema.safeParse(body);
  if (!parsed.success) {
    throw new SandboxAccountsError(`${url.href} answered an unexpected body`);
  }
  // By position in the sandbox's own (seeded) account order, never by anything that changes
  // with time (a tweet count), so every run of the demo picks the same accounts and providers.
  return parsed.data.accounts
    .map((account, index) => ({ account, index }))
    .filter(({ account }) => account.status === 'active')
    .slice(0, count)
    .map(({ account, index }) => ({
      provider: index % 2 === 0 ? 'x' : 'agntdata',
      userId: account.id,
      username: account.username,
    }));
}

export interface LoadWatchlistOptions {
  everySeconds: number;
  backfillDepth: number;
}

/**
 * Adds the targets that are not on the watchlist yet; ones already there are left exactly as
 * they are (a re-run must not undo what the user changed with `birdfeed watchlist`).
 */
export async function loadDemoWatchlist(
  db: BirdfeedDb,
  targets: DemoTarget[],
  options: LoadWatchlistOptions,
): Promise<{ added: number; kept: number }> {
  let added = 0;
  for (const target of targets) {
    if ((await getTarget(db, target)) !== null) continue;
    await upsertTarget(db, {
      provider: target.provider,
      userId: target.userId,
      username: target.username,
      intervalSeconds: options.everySeconds,
      backfillDepth: options.backfillDepth,
      tags: ['demo'],
    });
    added += 1;
  }
  return { added, kept: targets.length - added };
}

/**
 * Targets of the database the demo did not add (not tagged `demo`), a few named. The demo
 * crawls every due target of its database against the sandbox: run on a database that also
 * watches real accounts, it would mark them not_found and write sandbox pages beside theirs.
 * Read before anything is migrated or written (a database without the table has none).
 */
export async function foreignTargets(
  db: BirdfeedDb,
): Promise<{ count: number; examples: string[] }> {
  const [table] = rowsOf<{ exists: boolean }>(
    await db.execute(sql`SELECT to_regclass('watch_targets') IS NOT NULL AS exists`),
  );
  if (table?.exists !== true) return { count: 0, examples: [] };
  const rows = rowsOf<{ target: string; total: number }>(
    await db.execute(sql`SELECT provider || ':' || user_id AS target, count(*) OVER ()::int AS total
      FROM watch_targets WHERE NOT 'demo' = ANY(tags) ORDER BY provider, user_id LIMIT 3`),
  );
  return { count: rows[0]?.total ?? 0, examples: rows.map((row) => row.target) };
}
