import type { SandboxAccount } from './accounts.ts';
import type { CursorCodec } from './cursor-codec.ts';
import { parseJsonKeepingBigIntegers } from './json-body.ts';
import { renderAgntdataTweet, renderAgntdataUser } from './render-agntdata.ts';
import { agntdataError, agntdataValidationError, type SandboxResponse } from './responses.ts';
import type { ResolvedOptions } from './sandbox-options.ts';
import { mediaPlan, metricsTime, type SandboxTweet } from './tweets.ts';
import type { World } from './world.ts';

/**
 * agntdata: POST /user/medias {user_id, limit}, POST /user/medias/continuation {user_id,
 * limit, continuation_token}, and the GET forms with the same query parameters
 * (../../shared/seeds/agntdata-user-medias.txt). Only tweets that carry media; no cap on
 * depth; no since_id (the client stops paging itself).
 */
export interface AgntdataContext {
  world: World;
  codec: CursorCodec;
  options: ResolvedOptions;
  now: number;
}

export interface AgntdataRequest {
  userId: string;
  limit: number;
  continuationToken: string | null;
}

const DEFAULT_LIMIT = 20;
const MAX_LIMIT = 100;

type Issue = { loc: (string | number)[]; msg: string; type: string };

function readInteger(value: unknown, loc: (string | number)[], issues: Issue[]): string | null {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  // Digits kept as a string by parseJsonKeepingBigIntegers, or a numeric string, which
  // FastAPI/pydantic coerces to int as well.
  if (typeof value === 'string' && /^-?\d+$/.test(value))
    return value.replace(/^(-?)0+(?=\d)/, '$1');
  issues.push({ loc, msg: 'value is not a valid integer', type: 'type_error.integer' });
  return null;
}

/** Validates a body or query; the 422 lists every problem, as FastAPI does. */
export function parseAgntdataRequest(
  source: Record<string, unknown>,
  where: 'body' | 'query',
  continuation: boolean,
): AgntdataRequest | SandboxResponse {
  const issues: Issue[] = [];
  let userId: string | null = null;
  if (source.user_id === undefined || source.user_id === null) {
    issues.push({ loc: [where, 'user_id'], msg: 'field required', type: 'value_error.missing' });
  } else {
    userId = readInteger(source.user_id, [where, 'user_id'], issues);
  }
  let limit = DEFAULT_LIMIT;
  if (source.limit !== undefined && source.limit !== null) {
    const value = readInteger(source.limit, [where, 'limit'], issues);
    if (value !== null) {
      limit = Number(value);
      if (limit < 1) {
        issues.push({
          loc: [where, 'limit'],
          msg: 'ensure this value is greater than or equal to 1',
          type: 'value_error.number.not_ge',
        });
      } else if (limit > MAX_LIMIT) {
        issues.push({
          loc: [where, 'limit'],
          msg: `ensure this value is less than or equal to ${MAX_LIMIT}`,
          type: 'value_error.number.not_le',
        });
      }
    }
  }
  let continuationToken: string | null = null;
  const rawToken = source.continuation_token;
  if (continuation) {
    if (rawToken === undefined || rawToken === null || rawToken === '') {
      issues.push({
        loc: [where, 'continuation_token'],
        msg: 'field required',
        type: 'value_error.missing',
      });
    } else if (typeof rawToken !== 'string') {
      issues.push({
        loc: [where, 'continuation_token'],
        msg: 'str type expected',
        type: 'type_error.str',
      });
    } else continuationToken = rawToken;
  }
  if (issues.length > 0 || userId === null) return agntdataValidationError(issues);
  return { userId, limit, continuationToken };
}

export function parseAgntdataBody(text: string): Record<string, unknown> | SandboxResponse {
  let body: unknown;
  try {
    body = text.trim() === '' ? {} : parseJsonKeepingBigIntegers(text);
  } catch (error) {
    return agntdataValidationError([
      {
        loc: ['body', 0],
        msg: `Expecting value: ${error instanceof Error ? error.message : 'invalid JSON'}`,
        type: 'value_error.jsondecode',
      },
    ]);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return agntdataValidationError([
      { loc: ['body'], msg: 'value is not a valid dict', type: 'type_error.dict' },
    ]);
  }
  return body as Record<string, unknown>;
}

function unavailable(account: SandboxAccount | undefined, userId: string): SandboxResponse | null {
  if (account === undefined || account.status === 'deleted') {
    return agntdataError(404, 'USER_NOT_FOUND', `User ${userId} not found`);
  }
  if (account.status === 'suspended')
    return agntdataError(403, 'USER_SUSPENDED', `User ${userId} is suspended`);
  if (account.status === 'protected')
    return agntdataError(403, 'USER_PROTECTED', `User ${userId} is protected`);
  return null;
}

export function agntdataUserMedias(
  ctx: AgntdataContext,
  request: AgntdataRequest,
  costCents: number,
  creditsRemaining: number | null,
): SandboxResponse {
  const account = ctx.world.accountById(request.userId);
  const problem = unavailable(account, request.userId);
  if (problem !== null || account === undefined)
    return problem ?? agntdataError(404, 'USER_NOT_FOUND', 'not found');
  const timeline = ctx.world.timeline(account);
  const count = timeline.countAt(ctx.now);
  let hi = count;
  let page = 0;
  if (request.continuationToken !== null) {
    const position = ctx.codec.decode(request.continuationToken, 'agntdata');
    if (
      position === null ||
      position.accountIndex !== account.index ||
      ctx.now - position.issuedAtMs > ctx.options.cursorTtlMs
    ) {
      return agntdataError(
        400,
        'INVALID_CONTINUATION_TOKEN',
        'continuation_token is invalid or has expired',
      );
    }
    hi = timeline.firstAtOrAbove(position.upper, count);
    page = position.page;
  }
  const metrics = ctx.world.userMetricsAt(account, ctx.now, count);
  // The same user object sits in every result: rendered once per page, spliced between the
  // cached halves of each tweet's JSON (see bench/sandbox.bench.ts for why JSON is cached).
  const user = Buffer.from(JSON.stringify(renderAgntdataUser(account, metrics, false)));
  const metricsNow = metricsTime(ctx.now);
  const chunks: Buffer[] = [];
  let taken = 0;
  let k = hi - 1;
  let lastTaken = -1;
  for (; k >= 0 && taken < request.limit; k--) {
    if (mediaPlan(ctx.world.seedHash, account.index, k).length === 0) continue;
    const halves = tweetHalves(ctx.world.tweet(account, k), metricsNow);
    if (taken > 0) chunks.push(COMMA);
    chunks.push(halves.before, user, halves.after);
    taken += 1;
    lastTaken = k;
  }
  let more = false;
  for (let rest = lastTaken - 1; lastTaken > 0 && rest >= 0; rest--) {
    if (mediaPlan(ctx.world.seedHash, account.index, rest).length > 0) {
      more = true;
      break;
    }
  }
  const upper = lastTaken >= 0 ? timeline.idAt(lastTaken) : undefined;
  const continuationToken =
    more && upper !== undefined
      ? ctx.codec.encode({
          provider: 'agntdata',
          accountIndex: account.index,
          upper,
          backwards: false,
          sinceId: null,
          page: page + 1,
          issuedAtMs: ctx.now,
        })
      : null;
  const tail = `],"continuation_token":${JSON.stringify(continuationToken)}}`;
  if (!ctx.options.agntdataEnveloped) {
    return { status: 200, body: [RESULTS_START, ...chunks, Buffer.from(tail)], costCents };
  }
  const meta = {
    costCents,
    ...(creditsRemaining === null ? {} : { creditsRemainingCents: creditsRemaining }),
    endpoint: '/user/medias',
  };
  return {
    status: 200,
    body: [
      ENVELOPE_START,
      RESULTS_START,
      ...chunks,
      Buffer.from(`${tail},"meta":${JSON.stringify(meta)}}`),
    ],
    costCents,
  };
}

const COMMA = Buffer.from(',');
const RESULTS_START = Buffer.from('{"results":[');
const ENVELOPE_START = Buffer.from('{"success":true,"data":');
const USER_SLOT = '"__sandbox_user__"';

/** A tweet's agntdata JSON cut where the user object goes, cached per metrics minute. */
function tweetHalves(tweet: SandboxTweet, metricsNow: number): { before: Buffer; after: Buffer } {
  const cached = tweet.agntdataJson;
  if (cached !== undefined && cached.metricsNow === metricsNow) return cached;
  const json = JSON.stringify(renderAgntdataTweet(tweet, '__sandbox_user__', metricsNow));
  const at = json.indexOf(USER_SLOT);
  const halves = {
    metricsNow,
    before: Buffer.from(json.slice(0, at)),
    after: Buffer.from(json.slice(at + USER_SLOT.length)),
  };
  tweet.agntdataJson = halves;
  return halves;
}
