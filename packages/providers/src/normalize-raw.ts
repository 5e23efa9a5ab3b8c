import type { CanonicalPage, ProviderName } from '@birdfeed/model';
import { normalizeAgntdataMedias, validateAgntdataMedias } from './agntdata-normalize.ts';
import type { NormalizeContext } from './page-builder.ts';
import { parseJsonBody } from './schema-parse.ts';
import {
  looksLikeXUserLookup,
  normalizeXTimeline,
  normalizeXUserLookup,
  validateXTimeline,
  validateXUserLookup,
} from './x-normalize.ts';

/**
 * One raw body → one canonical page: JSON.parse, zod, normalize. X user lookup bodies become a
 * page with users only. Throws InvalidResponseError (with the JSON path and the raw body).
 */
export function normalizeRaw(
  provider: ProviderName,
  rawBody: string,
  ctx: NormalizeContext,
): CanonicalPage {
  const json = parseJsonBody(provider, rawBody);
  if (provider === 'agntdata') {
    return normalizeAgntdataMedias(validateAgntdataMedias(json, rawBody).body, ctx);
  }
  if (looksLikeXUserLookup(json)) {
    return normalizeXUserLookup(validateXUserLookup(json, rawBody), ctx);
  }
  return normalizeXTimeline(validateXTimeline(json, rawBody), ctx);
}
