import { type CrawlClient, crawlPage, recordJobFailure } from '@birdfeed/crawl';
import type { BirdfeedDb } from '@birdfeed/db';
import type { ProviderName } from '@birdfeed/model';
import {
  createAgntdataClient,
  createXClient,
  type RateLimitInfo,
  rateLimitOf,
} from '@birdfeed/providers';
import type { Logger } from 'pino';
import type { WorkerEnv } from './env.ts';
import type { FinalFailureHandler, PageStep } from './page-step.ts';

/**
 * Wires the crawl step (packages/crawl) and a provider client into the worker's PageStep: the
 * one place where the transport meets the step.
 */
export interface PageRunner {
  step: PageStep;
  onFinalFailure: FinalFailureHandler;
  close(): Promise<void>;
}

export interface PageRunnerOptions {
  env: WorkerEnv;
  provider: ProviderName;
  db: BirdfeedDb;
  logger: Logger;
}

export function createPageRunner(options: PageRunnerOptions): PageRunner {
  const { env, provider, db } = options;
  // Not a child bound to { provider }: every request line already carries it (pino would write
  // the key twice).
  const clientLogger = options.logger;
  const client =
    provider === 'x'
      ? createXClient({
          baseUrl: env.X_API_BASE_URL,
          bearerToken: env.X_BEARER_TOKEN ?? '',
          logger: clientLogger,
          maxResults: env.WORKER_X_PAGE_SIZE,
        })
      : createAgntdataClient({
          baseUrl: env.AGNTDATA_BASE_URL,
          apiKey: env.AGNTDATA_API_KEY ?? '',
          logger: clientLogger,
          limit: env.WORKER_AGNTDATA_PAGE_SIZE,
        });

  const step: PageStep = async (payload, context) => {
    // The window the last response described, an error response's too: crawlPage turns some
    // errors (an expired cursor, an unreadable account) into a result that does not carry it,
    // and X sends its window on those 400s and 404s as well. One that throws carries its own.
    let seen: RateLimitInfo | null = null;
    const observed: CrawlClient = {
      provider: client.provider,
      fetchTimelinePage: async (request) => {
        try {
          const fetched = await client.fetchTimelinePage(request);
          seen = fetched.rateLimit;
          return fetched;
        } catch (error) {
          seen = rateLimitOf(error);
          throw error;
        } finally {
          context.observeRateLimit?.(seen);
        }
      },
    };
    const result = await crawlPage({
      db,
      client: observed,
      target: { provider: payload.provider, userId: payload.userId },
      runId: payload.runId,
      signal: context.signal,
      logger: context.logger,
      // Before every page, not only when the scheduler starts a run: runs under way stop too.
      dailyBudgetCents: env.AGNTDATA_DAILY_BUDGET_CENTS,
    });
    return {
      next: result.next === 'page',
      rateLimit: result.rateLimit ?? seen,
      tweetsNew: result.tweetsNew,
      tweetsUpdated: result.tweetsUpdated,
    };
  };

  const onFinalFailure: FinalFailureHandler = async (failure) => {
    if (failure.payload === null) {
      // Nothing to attribute it to: the worker has logged it, BullMQ keeps it in `failed`.
      return;
    }
    await recordJobFailure(db, {
      provider: failure.payload.provider,
      userId: failure.payload.userId,
      runId: failure.payload.runId,
      jobId: failure.jobId,
      attempt: failure.attempts,
      error: failure.error,
      final: true,
    });
  };

  return { step, onFinalFailure, close: () => client.close() };
}
