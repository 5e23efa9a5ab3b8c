import { setTimeout as sleep } from 'node:timers/promises';
import {
  type CrawlClient,
  type CrawlLogger,
  type CrawlStepResult,
  crawlPage,
  describeError,
  rateLimitWaitMs,
  recordJobFailure,
} from '@birdfeed/crawl';
import {
  type BirdfeedDb,
  claimDueTargets,
  claimTarget,
  rowsOf,
  type TargetKey,
} from '@birdfeed/db';
import type { ProviderName } from '@birdfeed/model';
import { RateLimitedError, TransientError, UnauthorizedError } from '@birdfeed/providers';

/**
 * The demo's queue when there is no Redis: the crawl step (packages/crawl `crawlPage`, the
 * function the BullMQ workers run) driven in-process on the scheduler's ticks. Each provider
 * gets a few lanes; a lane claims a due target (FOR UPDATE SKIP LOCKED, like the scheduler)
 * and runs its window page by page.
 *
 * Stopping finishes the page in flight and starts no other: the run stays open with its
 * cursor saved in crawl_checkpoints, and the next start claims targets with an open window
 * first, so the crawl resumes exactly where it stood (the step adopts the open run).
 */
export interface InProcessCrawlOptions {
  db: BirdfeedDb;
  clients: Partial<Record<ProviderName, CrawlClient>>;
  /** How often an idle lane looks for due targets (the scheduler's tick). */
  tickMs: number;
  /** @defaultValue 2 */
  lanesPerProvider?: number;
  stop: AbortSignal;
  onStep?: (step: CrawlStepResult) => void;
  /** Something the user should see (a 429 wait, a failure, a provider stopped). */
  onNotice?: (message: string) => void;
  logger?: CrawlLogger;
}

const MAX_TRANSIENT_ATTEMPTS = 5;

export async function runInProcessCrawl(options: InProcessCrawlOptions): Promise<void> {
  const { db, stop } = options;
  const notice = options.onNotice ?? (() => {});
  const stoppedProviders = new Set<ProviderName>();
  const resume = new Map<ProviderName, TargetKey[]>();
  // Targets whose window was open when the last run stopped: crawl those first.
  const open = rowsOf<{ provider: ProviderName; user_id: string }>(
    await db.execute(
      `SELECT c.provider, c.user_id::text AS user_id FROM crawl_checkpoints c
       JOIN watch_targets w USING (provider, user_id)
       WHERE c.window_started_at IS NOT NULL AND w.enabled AND w.state = 'active'
       ORDER BY c.updated_at`,
    ),
  );
  for (const row of open) {
    const list = resume.get(row.provider) ?? [];
    list.push({ provider: row.provider, userId: row.user_id });
    resume.set(row.provider, list);
  }

  const pause = (ms: number) => sleep(ms, undefined, { signal: stop }).catch(() => {});

  const nextTarget = async (provider: ProviderName): Promise<TargetKey | null> => {
    const queued = resume.get(provider);
    while (queued !== undefined && queued.length > 0) {
      const key = queued.shift() as TargetKey;
      const claimed = await claimTarget(db, key);
      if (claimed !== null) return key;
    }
    const [due] = await claimDueTargets(db, { limit: 1, providers: [provider] });
    return due === undefined ? null : { provider: due.provider, userId: due.userId };
  };

  const crawlWindow = async (client: CrawlClient, key: TargetKey) => {
    let runId: string | null = null;
    let attempt = 0;
    while (!stop.aborted) {
      let step: CrawlStepResult;
      try {
        step = await crawlPage({
          db,
          client,
          target: key,
          runId,
          ...(options.logger === undefined ? {} : { logger: options.logger }),
        });
      } catch (error) {
        if (error instanceof RateLimitedError) {
          // Bounded (16 minutes), and a minute for a reset that is not a date: an unbounded
          // or NaN wait is a timer that fires after 1 ms, and a 429 asked again at once.
          const waitMs = rateLimitWaitMs(error.resetAt, Date.now());
          notice(
            `${key.provider}: rate limited, waiting ${Math.ceil(waitMs / 1000)}s for the reset`,
          );
          await pause(waitMs);
          continue;
        }
        if (error instanceof TransientError && attempt + 1 < MAX_TRANSIENT_ATTEMPTS) {
          attempt += 1;
          const ceiling = Math.min(30_000, 500 * 2 ** (attempt - 1));
          await pause(Math.round(ceiling / 2 + (Math.random() * ceiling) / 2));
          continue;
        }
        const described = describeError(error);
        await recordJobFailure(db, { ...key, runId, attempt: attempt + 1, error });
        if (error instanceof UnauthorizedError) {
          stoppedProviders.add(key.provider);
          notice(`${key.provider}: credential rejected (${described.message}); provider stopped`);
        } else {
          notice(`${key.provider} ${key.userId}: ${described.name}: ${described.message}`);
        }
        return;
      }
      attempt = 0;
      runId = step.runId;
      options.onStep?.(step);
      if (step.next === 'done') return;
    }
  };

  const lane = async (provider: ProviderName, client: CrawlClient) => {
    while (!stop.aborted && !stoppedProviders.has(provider)) {
      let key: TargetKey | null;
      try {
        key = await nextTarget(provider);
      } catch (error) {
        if (stop.aborted) return;
        notice(`${provider}: could not claim a target: ${(error as Error).message}`);
        await pause(options.tickMs);
        continue;
      }
      if (key === null) {
        await pause(options.tickMs);
        continue;
      }
      try {
        await crawlWindow(client, key);
      } catch (error) {
        // The database went away under us (e.g. during shutdown): report, keep the loop alive.
        if (stop.aborted) return;
        notice(`${provider} ${key.userId}: ${(error as Error).message}`);
        await pause(options.tickMs);
      }
    }
  };

  const lanes: Promise<void>[] = [];
  for (const [provider, client] of Object.entries(options.clients) as [
    ProviderName,
    CrawlClient,
  ][]) {
    for (let i = 0; i < (options.lanesPerProvider ?? 2); i += 1) lanes.push(lane(provider, client));
  }
  await Promise.all(lanes);
}
