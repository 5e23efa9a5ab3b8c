import type { ProviderName } from '@birdfeed/model';
import { sql } from 'drizzle-orm';
import { type BirdfeedExecutor, rowsOf } from '../database.ts';

/** The UTC calendar day budgets are counted in, as `YYYY-MM-DD`. */
export function spendDay(at: Date): string {
  return at.toISOString().slice(0, 10);
}

export interface SpendInput {
  provider: ProviderName;
  /** `YYYY-MM-DD` (UTC); see {@link spendDay}. */
  day: string;
  cents: number;
  /** @defaultValue 1 */
  requests?: number | undefined;
}

export async function addSpend(db: BirdfeedExecutor, input: SpendInput): Promise<void> {
  await db.execute(sql`INSERT INTO provider_spend (provider, day, requests, cost_cents)
    VALUES (${input.provider}, ${input.day}::date, ${input.requests ?? 1}, ${input.cents})
    ON CONFLICT (provider, day) DO UPDATE SET
      requests = provider_spend.requests + excluded.requests,
      cost_cents = provider_spend.cost_cents + excluded.cost_cents`);
}

export interface Spend {
  requests: number;
  costCents: number;
}

/** What the provider has cost today (UTC), by the clock given. */
export async function spentToday(
  db: BirdfeedExecutor,
  provider: ProviderName,
  now: Date = new Date(),
): Promise<Spend> {
  const rows = rowsOf<{ requests: number; cost_cents: number }>(
    await db.execute(sql`SELECT requests, cost_cents FROM provider_spend
      WHERE provider = ${provider} AND day = ${spendDay(now)}::date`),
  );
  const row = rows[0];
  return { requests: row?.requests ?? 0, costCents: row?.cost_cents ?? 0 };
}

export interface SpendReservation {
  provider: ProviderName;
  day: string;
  cents: number;
}

/**
 * Counts `cents` into the day's spend BEFORE a request is made, and only while that keeps the
 * day at or under `budgetCents`: one statement, so two workers checking at once cannot both
 * take the budget's last cent (a read of the spend followed by the request let every page in
 * flight through). Null: no room left. The caller settles the reservation with the request's
 * real cost (`addSpend` of the difference) or gives it back when nothing was charged; a crash
 * in between leaves it counted, which errs on the side of spending less.
 */
export async function reserveSpend(
  db: BirdfeedExecutor,
  input: SpendReservation & { budgetCents: number },
): Promise<SpendReservation | null> {
  const rows = rowsOf<{ cost_cents: number }>(
    await db.execute(sql`INSERT INTO provider_spend (provider, day, requests, cost_cents)
      SELECT ${input.provider}::text, ${input.day}::date, 0, ${input.cents}::int
      WHERE ${input.cents}::int <= ${input.budgetCents}::int
      ON CONFLICT (provider, day) DO UPDATE SET
        cost_cents = provider_spend.cost_cents + excluded.cost_cents
      WHERE provider_spend.cost_cents + excluded.cost_cents <= ${input.budgetCents}::int
      RETURNING cost_cents`),
  );
  return rows.length === 0
    ? null
    : { provider: input.provider, day: input.day, cents: input.cents };
}
