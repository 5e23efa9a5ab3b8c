import {
  type AgntdataErrorBody,
  type AgntdataValidationError,
  agntdataErrorBodySchema,
  agntdataValidationErrorSchema,
} from './agntdata-schemas.ts';
import {
  AccountUnavailableError,
  type AccountUnavailableReason,
  BadRequestError,
  type ErrorResponseContext,
  InvalidCursorError,
  OutOfCreditsError,
  type ProviderError,
  TransientError,
  UnauthorizedError,
} from './errors.ts';
import { type HeaderMap, rateLimitedError } from './rate-limit.ts';
import { parseJsonOrUndefined } from './schema-parse.ts';

/**
 * agntdata error shapes.
 *
 * Documented (seeds/agntdata-user-medias.txt, DESIGN.md): `{success:false, error:{code, message,
 * retryAfter}}` from the service, FastAPI's 422 `{detail:[{loc, msg, type}]}`, `Retry-After` on
 * 429, and "failed requests (4xx/5xx) are not charged".
 *
 * NOT documented, so decided here (the sandbox emits exactly this):
 * - An expired or unknown continuation token is HTTP 400
 *   `{success:false, error:{code:"INVALID_CONTINUATION_TOKEN", message:"continuation token
 *   expired or invalid"}}` → InvalidCursorError. Leniently, any 4xx whose error code or message
 *   mentions a continuation token or cursor, or a 422 whose `detail[].loc` names
 *   `continuation_token`, is read the same way.
 * - Credits: 402, or a code/message about credits, balance or payment → OutOfCreditsError.
 * - The watched account: a code or message saying the *user* is not found / suspended /
 *   private (e.g. 404 `{code:"USER_NOT_FOUND"}`, `{code:"USER_SUSPENDED"}`,
 *   `{code:"USER_PROTECTED"}`) → AccountUnavailableError. A bare 404 without such words is a
 *   wrong route (a misconfigured base URL), not a missing account: BadRequestError.
 */
export const AGNTDATA_INVALID_CURSOR_CODE = 'INVALID_CONTINUATION_TOKEN';

export interface ParsedAgntdataError {
  code: string | undefined;
  message: string;
  retryAfter: number | undefined;
  validation: AgntdataValidationError | undefined;
}

export function parseAgntdataErrorBody(text: string): ParsedAgntdataError | undefined {
  const json = parseJsonOrUndefined(text);
  if (json === undefined) return undefined;
  const service = agntdataErrorBodySchema.safeParse(json);
  if (service.success) return fromService(service.data);
  const validation = agntdataValidationErrorSchema.safeParse(json);
  if (validation.success) {
    const message = validation.data.detail
      .map((d) => `${d.loc.join('.') || 'body'}: ${d.msg || d.type || 'invalid'}`)
      .join('; ');
    return { code: undefined, message, retryAfter: undefined, validation: validation.data };
  }
  return undefined;
}

function fromService(body: AgntdataErrorBody): ParsedAgntdataError {
  return {
    code: String(body.error.code),
    message: body.error.message,
    retryAfter: body.error.retryAfter ?? undefined,
    validation: undefined,
  };
}

function accountReason(words: string, status: number): AccountUnavailableReason | undefined {
  if (!/user|account|profile/i.test(words)) return undefined;
  if (/suspend/i.test(words)) return 'suspended';
  if (/private|protected/i.test(words)) return 'protected';
  if (/deactivat|deleted/i.test(words)) return 'deleted';
  if (/not[ _-]?found|does not exist|no such/i.test(words)) return 'not_found';
  return status === 404 && /USER_NOT_FOUND/i.test(words) ? 'not_found' : undefined;
}

function isCursorError(parsed: ParsedAgntdataError | undefined): boolean {
  if (parsed === undefined) return false;
  if (parsed.validation?.detail.some((d) => d.loc.includes('continuation_token'))) return true;
  return /continuation|cursor/i.test(`${parsed.code ?? ''} ${parsed.message}`);
}

/** The typed error for a non-2xx agntdata response, or a 2xx `{success:false}`. */
export function agntdataErrorFor(
  status: number,
  headers: HeaderMap,
  text: string,
  ctx: ErrorResponseContext,
): ProviderError {
  const parsed = parseAgntdataErrorBody(text);
  const said = parsed
    ? `${parsed.code ? `${parsed.code}: ` : ''}${parsed.message}`
    : text.trim().slice(0, 300);
  const message = ctx.scrub(`agntdata ${ctx.endpoint} → ${status}: ${said}`);
  const options = { status };
  const words = `${parsed?.code ?? ''} ${parsed?.message ?? ''}`;

  if (status === 429 || /rate.?limit|too many requests/i.test(parsed?.code ?? '')) {
    return rateLimitedError('agntdata', message, { status, headers }, parsed?.retryAfter, ctx.now);
  }
  if (status === 402 || /credit|balance|payment|insufficient.?funds/i.test(words)) {
    return new OutOfCreditsError('agntdata', message, options);
  }
  if (status === 401) return new UnauthorizedError('agntdata', message, options);
  if (status === 403) {
    // Only a code that names the user (USER_SUSPENDED…) is about the watched account; a bare
    // 403 is about our key.
    const reason = /USER_/i.test(parsed?.code ?? '') ? accountReason(words, status) : undefined;
    if (reason !== undefined) {
      return new AccountUnavailableError('agntdata', message, {
        ...options,
        reason,
        userId: ctx.userId,
      });
    }
    return new UnauthorizedError('agntdata', message, options);
  }
  if (status >= 500) return new TransientError('agntdata', message, options);
  if (isCursorError(parsed)) return new InvalidCursorError('agntdata', message, options);
  const reason = accountReason(words, status);
  if (reason !== undefined) {
    return new AccountUnavailableError('agntdata', message, {
      ...options,
      reason,
      userId: ctx.userId,
    });
  }
  if (status >= 200 && status < 300) {
    // `{success:false}` with a 2xx and a code we do not know: the service says it failed.
    return new TransientError('agntdata', message, options);
  }
  return new BadRequestError('agntdata', message, options);
}
