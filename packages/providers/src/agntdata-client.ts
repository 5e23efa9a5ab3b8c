import { isSnowflakeId } from '@birdfeed/model';
import type { Logger } from 'pino';
import { agntdataErrorFor } from './agntdata-errors.ts';
import { normalizeAgntdataMedias, validateAgntdataMedias } from './agntdata-normalize.ts';
import { BadRequestError, InvalidResponseError, ProviderError } from './errors.ts';
import {
  createDispatcher,
  createScrubber,
  fetchedPage,
  logRequestFailure,
  noteRateLimit,
  type RawResponse,
  type RequestContext,
  redactCredentials,
  safeUrl,
  send,
} from './http.ts';
import { parseJsonBody } from './schema-parse.ts';
import type { ClientTimeouts, FetchedPage, TimelineClient, TimelinePageRequest } from './types.ts';

export interface AgntdataClientOptions {
  /** e.g. `https://api.agntdata.dev/v1/x` — the client appends `/user/medias`. */
  baseUrl: string;
  apiKey: string;
  logger?: Logger;
  timeouts?: ClientTimeouts;
  /** Results per page. @defaultValue 20 */
  limit?: number;
  /**
   * Whether the service wraps bodies in `{success, data, meta}`. Both shapes are always
   * accepted (the parser tells them apart); this is informational, for callers' config.
   */
  enveloped?: boolean;
}

/** Documented price: $0.01 per successful request, when the envelope does not say. */
export const AGNTDATA_DEFAULT_COST_CENTS = 1;

/**
 * The request body. `user_id` is declared an integer, and snowflakes exceed 2^53, so the
 * number is written from its decimal string and never passes through a JS number.
 */
export function agntdataRequestBody(userId: string, limit: number, cursor?: string | null): string {
  if (!isSnowflakeId(userId)) {
    throw new BadRequestError(
      'agntdata',
      `userId must be a decimal user id, got ${JSON.stringify(userId)}`,
    );
  }
  const head = `{"user_id":${userId},"limit":${Math.trunc(limit)}`;
  return cursor ? `${head},"continuation_token":${JSON.stringify(cursor)}}` : `${head}}`;
}

/** agntdata `POST /user/medias` (first page) and `POST /user/medias/continuation` (the rest). */
export function createAgntdataClient(options: AgntdataClientOptions): TimelineClient {
  const dispatcher = createDispatcher(options.timeouts);
  const scrub = createScrubber([options.apiKey]);
  // Messages quote what the server said: redacted by pattern too (see redactCredentials).
  const scrubMessage = (text: string) => redactCredentials(scrub(text));
  const defaultLimit = options.limit ?? 20;
  const logger = options.logger;
  const base = options.baseUrl.replace(/\/+$/, '');

  async function fetchTimelinePage(req: TimelinePageRequest): Promise<FetchedPage> {
    // No since_id upstream: the crawl step stops paging once a page reaches its checkpoint.
    const limit = Math.min(100, Math.max(1, req.maxResults ?? defaultLimit));
    const body = agntdataRequestBody(req.userId, limit, req.cursor);
    const endpoint = req.cursor ? '/user/medias/continuation' : '/user/medias';
    const url = new URL(`${base}${endpoint}`);
    const observedAt = new Date();
    const request: RequestContext = {
      provider: 'agntdata',
      endpoint,
      method: 'POST',
      userId: req.userId,
      started: performance.now(),
    };
    let response: RawResponse | undefined;
    let costCents = 0;
    try {
      response = await send({
        provider: 'agntdata',
        dispatcher,
        method: 'POST',
        url,
        headers: {
          authorization: `Bearer ${options.apiKey}`,
          'content-type': 'application/json',
          accept: 'application/json',
        },
        body,
        signal: req.signal,
        scrub,
      });
      const errorCtx = { userId: req.userId, endpoint, scrub: scrubMessage };
      if (response.status < 200 || response.status >= 300) {
        throw agntdataErrorFor(response.status, response.headers, response.text, errorCtx);
      }
      // "Credits are deducted from your agntdata balance on each successful API call. Failed
      // requests (4xx/5xx) are not charged." (seeds/agntdata-user-medias.txt, Pricing). So a 2xx
      // is charged from here on, whatever its body: one cut short or not JSON at all (the
      // parse below throws) costs as much as one that fails our schema.
      costCents = AGNTDATA_DEFAULT_COST_CENTS;
      const json = parseJsonBody('agntdata', response.text);
      if (
        typeof json === 'object' &&
        json !== null &&
        (json as { success?: unknown }).success === false
      ) {
        // The service's own envelope says the call failed: not a "successful API call", so not
        // charged, whatever the status line said.
        costCents = 0;
        throw agntdataErrorFor(response.status, response.headers, response.text, errorCtx);
      }
      const parsed = validateAgntdataMedias(json, response.text);
      costCents = parsed.costCents ?? AGNTDATA_DEFAULT_COST_CENTS;
      const page = normalizeAgntdataMedias(parsed.body, { userId: req.userId, observedAt });
      return fetchedPage(logger, request, response, { page, requestUrl: safeUrl(url), costCents });
    } catch (error) {
      if (error instanceof InvalidResponseError) error.costCents = costCents;
      // A body that broke off after a 2xx status line was charged all the same.
      if (error instanceof ProviderError && error.bodyCut) costCents = AGNTDATA_DEFAULT_COST_CENTS;
      noteRateLimit(error, response);
      logRequestFailure(logger, request, response, costCents, error);
      throw error;
    }
  }

  return {
    provider: 'agntdata',
    fetchTimelinePage,
    async close() {
      await dispatcher.close();
    },
  };
}
