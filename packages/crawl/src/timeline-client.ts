import type { CanonicalPage, ProviderName } from '@birdfeed/model';

/*
 * The slice of `@birdfeed/providers`' TimelineClient the crawl step uses, restated structurally
 * so the step can be driven by any client that keeps the contract (the real ones, or a test's).
 */

export interface TimelinePageRequest {
  userId: string;
  sinceId?: string | null;
  untilId?: string | null;
  cursor?: string | null;
  maxResults?: number;
  signal?: AbortSignal;
}

export interface RateLimitInfo {
  limit: number;
  remaining: number;
  resetAt: Date;
}

export interface FetchedPage {
  page: CanonicalPage;
  rawBody: string;
  status: number;
  /** Never carries a credential. */
  requestUrl: string;
  rateLimit: RateLimitInfo | null;
  costCents: number;
  durationMs: number;
}

export interface CrawlClient {
  readonly provider: ProviderName;
  fetchTimelinePage(request: TimelinePageRequest): Promise<FetchedPage>;
}
