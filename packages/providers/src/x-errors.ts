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
import { safeParseJson } from './schema-parse.ts';
import { type XErrorBody, type XProblem, xErrorBodySchema } from './x-schemas.ts';

/** An X error body, or undefined when the body is not one (the 429 text "Rate limit exceeded"). */
export function parseXErrorBody(text: string): XErrorBody | undefined {
  return safeParseJson(xErrorBodySchema, text);
}

/** `https://api.twitter.com/2/problems/resource-not-found` → `resource-not-found` (either host). */
function problemName(type: string | undefined): string | undefined {
  const match = type === undefined ? null : /\/2\/problems\/([A-Za-z-]+)$/.exec(type);
  return match?.[1];
}

function describe(body: XErrorBody | undefined, text: string): string {
  const parts: string[] = [];
  if (body?.title) parts.push(body.title);
  if (body?.detail) parts.push(body.detail);
  for (const problem of body?.errors ?? []) {
    const said = problem.detail ?? problem.message ?? problem.title;
    if (said) parts.push(said);
    if (parts.length >= 3) break;
  }
  const summary = parts.length > 0 ? parts.join(': ') : text.trim();
  return summary.length > 300 ? `${summary.slice(0, 300)}…` : summary;
}

const ACCOUNT_PROBLEMS = new Set([
  'resource-not-found',
  'resource-unavailable',
  'not-authorized-for-resource',
]);

/**
 * Whether a problem says the watched account itself cannot be read. Problem types from the
 * OpenAPI spec (x-api-v2-openapi-2.167.json, `Problem`) and the Postman examples:
 * - `resource-not-found`, resource_type user ("Could not find user with id: [...]") → not_found
 * - `resource-unavailable`, resource_type user ("User has been suspended: [...]") → suspended
 * - `not-authorized-for-resource`, resource_type user ("Sorry, you are not authorized to see
 *   the user with id: [...]", a protected account) → protected
 * A problem that names another id (a deleted referenced tweet, a suspended quoted author) is
 * left in partialErrors.
 */
export function accountProblem(
  problems: readonly XProblem[],
  userId: string,
): { reason: AccountUnavailableReason; problem: XProblem } | undefined {
  for (const problem of problems) {
    const name = problemName(problem.type);
    // A problem about the app itself ("client-forbidden", a suspended developer account)
    // is a credential matter, never the watched account's.
    if (problem.resource_type !== 'user' && !ACCOUNT_PROBLEMS.has(name ?? '')) continue;
    if (problem.resource_type !== undefined && problem.resource_type !== 'user') continue;
    const named = [problem.resource_id, problem.value].filter((v) => typeof v === 'string');
    if (named.length > 0 && !named.includes(userId)) continue;
    const detail = `${problem.title ?? ''} ${problem.detail ?? ''}`;
    if (/suspend/i.test(detail)) return { reason: 'suspended', problem };
    if (/deactivat|deleted/i.test(detail)) return { reason: 'deleted', problem };
    if (/protected|not authorized to see/i.test(detail) || name === 'not-authorized-for-resource') {
      return { reason: 'protected', problem };
    }
    if (name === 'resource-unavailable') return { reason: 'suspended', problem };
    if (name === 'resource-not-found') return { reason: 'not_found', problem };
  }
  return undefined;
}

/** A 400 about our pagination token: it expired or was never valid. Restart from since_id. */
function isCursorProblem(body: XErrorBody | undefined, text: string): boolean {
  for (const problem of body?.errors ?? []) {
    const parameters = problem.parameters;
    if (typeof parameters === 'object' && parameters !== null && 'pagination_token' in parameters) {
      return true;
    }
    if (problem.parameter === 'pagination_token') return true;
  }
  return /pagination_token|next_token|pagination token/i.test(text);
}

/** The typed error for a non-2xx X response. */
export function xErrorForStatus(
  status: number,
  headers: HeaderMap,
  text: string,
  ctx: ErrorResponseContext,
): ProviderError {
  const body = parseXErrorBody(text);
  const summary = ctx.scrub(describe(body, text));
  const message = `x ${ctx.endpoint} → ${status}: ${summary}`;
  const problems = [...(body?.errors ?? []), ...(body?.type ? [body as XProblem] : [])];
  const options = { status };

  if (status === 429) {
    // The monthly post cap answers 429 too, but waiting 15 minutes will not lift it.
    if (problems.some((p) => problemName(p.type) === 'usage-capped')) {
      return new OutOfCreditsError('x', message, options);
    }
    return rateLimitedError('x', message, { status, headers }, undefined, ctx.now);
  }
  if (status === 402) return new OutOfCreditsError('x', message, options);
  if (status === 401) return new UnauthorizedError('x', message, options);
  if (status === 403 || status === 404) {
    const account = accountProblem(problems, ctx.userId);
    if (account !== undefined) {
      return new AccountUnavailableError('x', message, {
        ...options,
        reason: account.reason,
        userId: ctx.userId,
      });
    }
    if (status === 403) return new UnauthorizedError('x', message, options);
    return new BadRequestError('x', message, options);
  }
  if (status === 400 && isCursorProblem(body, text)) {
    return new InvalidCursorError('x', message, options);
  }
  if (status >= 500) return new TransientError('x', message, options);
  return new BadRequestError('x', message, options);
}

/**
 * A 200 that carries no tweets but says the watched account is missing, suspended or
 * protected (the Postman "User Not Found" example is exactly such a 200).
 */
export function xAccountErrorIn200(
  body: { data?: unknown[] | undefined; errors?: XProblem[] | undefined },
  ctx: ErrorResponseContext,
): AccountUnavailableError | undefined {
  if (body.data !== undefined && body.data.length > 0) return undefined;
  const account = accountProblem(body.errors ?? [], ctx.userId);
  if (account === undefined) return undefined;
  const said = account.problem.detail ?? account.problem.title ?? account.reason;
  return new AccountUnavailableError('x', ctx.scrub(`x ${ctx.endpoint} → 200: ${said}`), {
    status: 200,
    reason: account.reason,
    userId: ctx.userId,
  });
}
