export {
  AGNTDATA_DEFAULT_COST_CENTS,
  type AgntdataClientOptions,
  agntdataRequestBody,
  createAgntdataClient,
} from './agntdata-client.ts';
export {
  AGNTDATA_INVALID_CURSOR_CODE,
  agntdataErrorFor,
  parseAgntdataErrorBody,
} from './agntdata-errors.ts';
export {
  normalizeAgntdataMedias,
  type ParsedAgntdataMedias,
  parseAgntdataDate,
  parseAgntdataMedias,
} from './agntdata-normalize.ts';
export * from './agntdata-schemas.ts';
export {
  AccountUnavailableError,
  type AccountUnavailableReason,
  BadRequestError,
  InvalidCursorError,
  InvalidResponseError,
  OutOfCreditsError,
  ProviderError,
  RateLimitedError,
  rateLimitOf,
  TransientError,
  UnauthorizedError,
  UnsendableCredentialError,
  UnsendableRequestError,
} from './errors.ts';
export { DEFAULT_TIMEOUTS, redactPaths } from './http.ts';
export { normalizeRaw } from './normalize-raw.ts';
export type { NormalizeContext } from './page-builder.ts';
export { readRateLimit, readRetryAfter } from './rate-limit.ts';
export { type Recording, readRecordings } from './recordings.ts';
export { formatJsonPath } from './schema-parse.ts';
export type {
  ClientTimeouts,
  FetchedPage,
  RateLimitInfo,
  TimelineClient,
  TimelinePageRequest,
} from './types.ts';
export {
  buildXTimelineUrl,
  createXClient,
  X_EXPANSIONS,
  X_MEDIA_FIELDS,
  X_TWEET_FIELDS,
  X_USER_FIELDS,
  type XClientOptions,
} from './x-client.ts';
export { accountProblem, parseXErrorBody, xErrorForStatus } from './x-errors.ts';
export {
  looksLikeXUserLookup,
  normalizeXTimeline,
  normalizeXUserLookup,
  parseXTimeline,
  parseXUserLookup,
} from './x-normalize.ts';
export * from './x-schemas.ts';
