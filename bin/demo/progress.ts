import { type BirdfeedDb, rowsOf } from '@birdfeed/db';
import type { ProviderName } from '@birdfeed/model';

/**
 * The demo's live view: what the database holds (every number is read back from Postgres, so
 * it shows what the crawl really wrote, whichever process wrote it) plus the rate-limit budget
 * the queue side reports.
 */
export interface ProgressSnapshot {
  targets: number;
  /** Targets whose first window (the backfill) is complete. */
  accountsDone: number;
  /** Watched accounts with at least one tweet stored. */
  accountsWithTweets: number;
  tweets: number;
  pages: number;
  requests: number;
  failures: number;
  /** agntdata spend, all days (the sandbox counts $0.01 a request like the real service). */
  spendCents: number;
  latest: { id: string; username: string | null; createdAt: string; text: string } | null;
}

export interface BudgetLeft {
  provider: ProviderName;
  remaining: number | null;
  limit: number | null;
  /** True while the provider (or the queue) is holding back after a 429. */
  limited: boolean;
}

const PROGRESS_SQL = `
  SELECT
    (SELECT count(*) FROM watch_targets)::int AS targets,
    (SELECT count(*) FROM crawl_checkpoints WHERE since_id IS NOT NULL OR backfill_done)::int
      AS accounts_done,
    (SELECT count(DISTINCT t.author_id) FROM tweets t
      WHERE t.author_id IN (SELECT user_id FROM watch_targets))::int AS accounts_with_tweets,
    (SELECT count(*) FROM tweets)::int AS tweets,
    (SELECT coalesce(sum(pages), 0) FROM crawl_runs)::int AS pages,
    (SELECT coalesce(sum(requests), 0) FROM crawl_runs)::int AS requests,
    (SELECT count(*) FROM crawl_failures)::int AS failures,
    (SELECT coalesce(sum(cost_cents), 0) FROM provider_spend)::int AS spend_cents,
    (SELECT json_build_object('id', t.id::text, 'username', u.username,
        -- In UTC whatever the session's TimeZone: json_build_object writes local time.
        'created_at', to_char(t.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'text', t.text)
      FROM tweets t LEFT JOIN users u ON u.id = t.author_id
      WHERE t.author_id IN (SELECT user_id FROM watch_targets)
      ORDER BY t.id DESC LIMIT 1) AS latest`;

interface ProgressRow {
  targets: number;
  accounts_done: number;
  accounts_with_tweets: number;
  tweets: number;
  pages: number;
  requests: number;
  failures: number;
  spend_cents: number;
  latest: { id: string; username: string | null; created_at: string; text: string | null } | null;
}

export async function readProgress(db: BirdfeedDb): Promise<ProgressSnapshot> {
  const [row] = rowsOf<ProgressRow>(await db.execute(PROGRESS_SQL));
  if (row === undefined) throw new Error('the progress query returned no row');
  const latest = typeof row.latest === 'string' ? JSON.parse(row.latest) : row.latest;
  return {
    targets: Number(row.targets),
    accountsDone: Number(row.accounts_done),
    accountsWithTweets: Number(row.accounts_with_tweets),
    tweets: Number(row.tweets),
    pages: Number(row.pages),
    requests: Number(row.requests),
    failures: Number(row.failures),
    spendCents: Number(row.spend_cents),
    latest:
      latest === null
        ? null
        : {
            id: String(latest.id),
            username: latest.username ?? null,
            createdAt: String(latest.created_at),
            text: String(latest.text ?? ''),
          },
  };
}

function oneLine(text: string, width: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= width ? flat : `${flat.slice(0, Math.max(0, width - 1))}…`;
}

function budgetText(budgets: BudgetLeft[]): string {
  if (budgets.length === 0) return 'n/a yet';
  return budgets
    .map((budget) => {
      const left =
        budget.remaining === null
          ? '?'
          : budget.limit === null
            ? `${budget.remaining}`
            : `${budget.remaining}/${budget.limit}`;
      return `${budget.provider} ${left}${budget.limited ? ' (429: waiting for the reset)' : ''}`;
    })
    .join(', ');
}

/** The block redrawn on a terminal. */
export function renderProgressBlock(
  snapshot: ProgressSnapshot,
  budgets: BudgetLeft[],
  notice: string | null,
  elapsedMs: number,
  width: number,
): string[] {
  const lines = [
    `  accounts  ${snapshot.accountsDone}/${snapshot.targets} done, ${snapshot.accountsWithTweets} with tweets`,
    `  pages     ${snapshot.pages}    tweets ${snapshot.tweets}    requests ${snapshot.requests}    failures ${snapshot.failures}`,
    `  budget    ${budgetText(budgets)}    agntdata spend $${(snapshot.spendCents / 100).toFixed(2)}`,
    snapshot.latest === null
      ? '  latest    (no tweet yet)'
      : `  latest    @${snapshot.latest.username ?? '?'} ${snapshot.latest.createdAt}: ${oneLine(snapshot.latest.text, Math.max(20, width - 50))}`,
    `  running   ${Math.round(elapsedMs / 1000)}s — Ctrl-C stops; run again to resume${notice === null ? '' : `\n  note      ${oneLine(notice, width - 12)}`}`,
  ];
  return lines.flatMap((line) => line.split('\n'));
}

/** One line for logs and pipes (no cursor movement). */
export function renderProgressLine(snapshot: ProgressSnapshot, budgets: BudgetLeft[]): string {
  return [
    `progress: accounts_done=${snapshot.accountsDone}/${snapshot.targets}`,
    `accounts_with_tweets=${snapshot.accountsWithTweets}`,
    `pages=${snapshot.pages}`,
    `tweets=${snapshot.tweets}`,
    `requests=${snapshot.requests}`,
    `failures=${snapshot.failures}`,
    `spend_cents=${snapshot.spendCents}`,
    `budget="${budgetText(budgets)}"`,
    snapshot.latest === null ? 'latest=-' : `latest=${snapshot.latest.id}`,
  ].join(' ');
}

/**
 * Redraws the block in place on a TTY (cursor up + clear line), or prints a plain line when
 * something changed (at most once per call; the caller calls about once a second).
 */
export class ProgressPrinter {
  private drawn = 0;
  private lastLine = '';

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly tty: boolean,
  ) {}

  update(
    snapshot: ProgressSnapshot,
    budgets: BudgetLeft[],
    notice: string | null,
    elapsedMs: number,
  ) {
    if (this.tty) {
      const lines = renderProgressBlock(
        snapshot,
        budgets,
        notice,
        elapsedMs,
        this.out.columns || 100,
      );
      let text = this.drawn > 0 ? `\x1b[${this.drawn}A` : '';
      for (const line of lines) text += `\x1b[2K${line}\n`;
      // A shorter block than last time leaves stale lines below: clear them.
      for (let i = lines.length; i < this.drawn; i += 1) text += '\x1b[2K\n';
      const extra = Math.max(0, this.drawn - lines.length);
      if (extra > 0) text += `\x1b[${extra}A`;
      this.out.write(text);
      this.drawn = lines.length;
      return;
    }
    const line = renderProgressLine(snapshot, budgets);
    if (line !== this.lastLine) {
      this.out.write(`${line}\n`);
      this.lastLine = line;
    }
  }

  /** Text printed between redraws (a notice, the shutdown) goes below the block. */
  message(text: string) {
    this.drawn = 0;
    this.out.write(`${text}\n`);
  }
}
