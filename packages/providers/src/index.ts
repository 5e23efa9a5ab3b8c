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
  TransientError,
  UnauthorizedError,
} from './errors.ts';
export { normalizeRaw } from './normalize-raw.ts';
export type { NormalizeContext } from './page-builder.ts';
export { type Recording, readRecordings } from './recordings.ts';
export { formatJsonPath } from './schema-parse.ts';
export {
  looksLikeXUserLookup,
  normalizeXTimeline,
  normalizeXUserLookup,
  parseXTimeline,
  parseXUserLookup,
} from './x-normalize.ts';
export * from './x-schemas.ts';
