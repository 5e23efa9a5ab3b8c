import { isSnowflakeId } from '@birdfeed/model';
import type { Logger } from 'pino';
import { BadRequestError } from './errors.ts';
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
import { xAccountErrorIn200, xErrorForStatus } from './x-errors.ts';
import { normalizeXTimeline, validateXTimeline } from './x-normalize.ts';

export interface XClientOptions {
  /** e.g. `https://api.x.com` (no trailing `/2`). */
  baseUrl: string;
  bearerToken: string;
  logger?: Logger;
  timeouts?: ClientTimeouts;
  /** Tweets per page, 5..100. @defaultValue 100 */
  maxResults?: number;
}

/** Every expansion that brings media, authors and referenced tweets (with their authors). */
export const X_EXPANSIONS = [
  'attachments.media_keys',
  'author_id',
  'referenced_tweets.id',
  'referenced_tweets.id.author_id',
].join(',');

export const X_TWEET_FIELDS = [
  'attachments',
  'author_id',
  'conversation_id',
  'created_at',
  'edit_history_tweet_ids',
  'entities',
  'in_reply_to_user_id',
  'lang',
  'note_tweet',
  'possibly_sensitive',
  'public_metrics',
  'referenced_tweets',
  'reply_settings',
  'source',
].join(',');

export const X_MEDIA_FIELDS = [
  'alt_text',
  'duration_ms',
  'height',
  'media_key',
  'preview_image_url',
  'public_metrics',
  'type',
  'url',
  'variants',
  'width',
].join(',');

export const X_USER_FIELDS = [
  'created_at',
  'description',
  'location',
  'profile_image_url',
  'protected',
  'public_metrics',
  'url',
  'username',
  'verified',
  'verified_type',
].join(',');

const ENDPOINT = '/2/users/:id/tweets';

function clampMaxResults(value: number): number {
  return Math.min(100, Math.max(5, Math.trunc(value)));
}

function checkId(name: string, value: string | null | undefined): void {
  if (value != null && !isSnowflakeId(value)) {
    throw new BadRequestError(
      'x',
      `${name} must be a decimal tweet/user id, got ${JSON.stringify(value)}`,
    );
  }
}

export function buildXTimelineUrl(
  baseUrl: string,
  req: TimelinePageRequest,
  defaultMaxResults: number,
): URL {
  const url = new URL(`${baseUrl.replace(/\/+$/, '')}/2/users/${req.userId}/tweets`);
  const params = url.searchParams;
  params.set('max_results', String(clampMaxResults(req.maxResults ?? defaultMaxResults)));
  if (req.sinceId) params.set('since_id', req.sinceId);
  if (req.untilId) params.set('until_id', req.untilId);
  if (req.cursor) params.set('pagination_token', req.cursor);
  params.set('expansions', X_EXPANSIONS);
  params.set('tweet.fields', X_TWEET_FIELDS);
  params.set('media.fields', X_MEDIA_FIELDS);
  params.set('user.fields', X_USER_FIELDS);
  return url;
}

/** X API v2 `GET /2/users/:id/tweets`, one page per call. */
export function createXClient(options: XClientOptions): TimelineClient {
  const dispatcher = createDispatcher(options.timeouts);
  const scrub = createScrubber([options.bearerToken]);
  // Messages quote what the server said: redacted by pattern too (see redactCredentials).
  const scrubMessage = (text: string) => redactCredentials(scrub(text));
  const defaultMaxResults = options.maxResults ?? 100;
  const logger = options.logger;

  async function fetchTimelinePage(req: TimelinePageRequest): Promise<FetchedPage> {
    checkId('userId', req.userId);
    checkId('sinceId', req.sinceId);
    checkId('untilId', req.untilId);
    const url = buildXTimelineUrl(options.baseUrl, req, defaultMaxResults);
    const requestUrl = safeUrl(url);
    const observedAt = new Date();
    const endpoint = ENDPOINT;
    const request: RequestContext = {
      provider: 'x',
      endpoint,
      method: 'GET',
      userId: req.userId,
      started: performance.now(),
    };
    let response: RawResponse | undefined;
    try {
      response = await send({
        provider: 'x',
        dispatcher,
        method: 'GET',
        url,
        headers: { authorization: `Bearer ${options.bearerToken}`, accept: 'application/json' },
        signal: req.signal,
        scrub,
      });
      const errorCtx = { userId: req.userId, endpoint, scrub: scrubMessage };
      if (response.status < 200 || response.status >= 300) {
        throw xErrorForStatus(response.status, response.headers, response.text, errorCtx);
      }
      const body = validateXTimeline(parseJsonBody('x', response.text), response.text);
      const unavailable = xAccountErrorIn200(body, errorCtx);
      if (unavailable !== undefined) throw unavailable;
      const page = normalizeXTimeline(body, { userId: req.userId, observedAt });
      return fetchedPage(logger, request, response, { page, requestUrl, costCents: 0 });
    } catch (error) {
      noteRateLimit(error, response);
      logRequestFailure(logger, request, response, 0, error);
      throw error;
    }
  }

  return {
    provider: 'x',
    fetchTimelinePage,
    async close() {
      await dispatcher.close();
    },
  };
}
