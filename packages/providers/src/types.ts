import type { CanonicalPage, ProviderName } from '@birdfeed/model';

export interface TimelinePageRequest {
  userId: string;
  /** X only (exclusive); agntdata has no such parameter and ignores it. */
  sinceId?: string | null;
  untilId?: string | null;
  /** The previous page's `cursor.next`. */
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
  /** The body as received (credentials scrubbed, should a server ever echo one). */
  rawBody: string;
  status: number;
  /** The request URL without any secret (credentials travel in the Authorization header). */
  requestUrl: string;
  rateLimit: RateLimitInfo | null;
  costCents: number;
  durationMs: number;
}

export interface TimelineClient {
  readonly provider: ProviderName;
  fetchTimelinePage(req: TimelinePageRequest): Promise<FetchedPage>;
  close(): Promise<void>;
}

/** undici timeouts, in milliseconds. */
export interface ClientTimeouts {
  /** TCP + TLS connect. @defaultValue 10_000 */
  connectMs?: number;
  /** From request sent to response headers received. @defaultValue 30_000 */
  headersMs?: number;
  /** Between two chunks of the response body. @defaultValue 30_000 */
  bodyMs?: number;
}
