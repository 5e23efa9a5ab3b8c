import type { AccountStatus, Activity } from './accounts.ts';
import { clockProblem } from './clock.ts';
import type { FaultRule } from './faults.ts';

/** Everything `startSandbox` accepts; every field is optional. */
export interface SandboxOptions {
  /** @defaultValue 0 (any free port) */
  port?: number;
  /** @defaultValue '127.0.0.1' */
  host?: string;
  /** Same seed, same epoch → same accounts, tweets, media, faces. @defaultValue 'birdfeed' */
  seed?: string | number;
  /** @defaultValue 50 */
  accounts?: number;
  /**
   * Tweets each account has when the clock starts (a number for all, or per account index).
   * Unset: a realistic spread (20..3,000, some beyond 3,200, some empty).
   */
  tweetsPerAccount?: number | ((index: number) => number);
  /** Override the status of accounts (all, or per index). */
  accountStatus?: AccountStatus | ((index: number) => AccountStatus);
  /** Override how accounts post new tweets as time passes (all, or per index). */
  activity?: Activity | ((index: number) => Activity);
  /**
   * Every 20 accounts, #17 is protected, #18 suspended, #19 deleted, #3 has more than 3,200
   * tweets and #5 starts empty. @defaultValue true
   */
  specialAccounts?: boolean;
  /** Sandbox time at start (epoch ms); history ends here. @defaultValue Date.now() */
  epochMs?: number;
  /** Sandbox seconds per wall-clock second. @defaultValue 1 */
  timeScale?: number;
  /** Stop the clock: no new tweets, no metric changes. @defaultValue false */
  frozen?: boolean;
  /** Accepted X bearer tokens, each with its own rate-limit window. @defaultValue ['sandbox-x-token'] */
  xBearerTokens?: string[];
  /** Accepted agntdata API keys. @defaultValue ['sandbox-agntdata-key'] */
  agntdataApiKeys?: string[];
  /** GET /2/users/:id/tweets requests per window per token. @defaultValue 1500 */
  xRateLimit?: number;
  /** User lookup requests per window per token. @defaultValue 300 */
  xUserLookupRateLimit?: number;
  /** @defaultValue 900000 (15 minutes of sandbox time) */
  xRateLimitWindowMs?: number;
  /** agntdata requests per minute (sandbox time) per key. @defaultValue 60 */
  agntdataRequestsPerMinute?: number;
  /** Credits per agntdata key in cents; spent, every request gets a 402. @defaultValue unlimited */
  agntdataCreditsCents?: number | null;
  /** Answer agntdata in its `{success, data, meta}` envelope. @defaultValue false */
  agntdataEnveloped?: boolean;
  /** How many of the newest tweets X serves. @defaultValue 3200 */
  xTimelineCap?: number;
  /** How long (sandbox ms) a pagination/continuation token stays valid. @defaultValue 1800000 */
  cursorTtlMs?: number;
  /** Share of pages that come short (fewer tweets than asked, still a next_token). @defaultValue 0.03 */
  shortPageRate?: number;
  /** Share of pages that come empty with a next_token. @defaultValue 0.01 */
  emptyPageRate?: number;
  /** Faults from the start: a SPEC string (see faults.ts) or rules. */
  faults?: string | FaultRule[];
  /** A hung request is dropped after this many wall-clock ms. @defaultValue 60000 */
  hangMs?: number;
  /** Requests kept for GET /_sandbox/requests. @defaultValue 10000 */
  requestLogSize?: number;
  /** Generated tweets kept in memory. @defaultValue 200000 */
  tweetCacheSize?: number;
}

export interface ResolvedOptions {
  port: number;
  host: string;
  seed: string;
  accounts: number;
  tweetsPerAccount: number | ((index: number) => number) | undefined;
  accountStatus: AccountStatus | ((index: number) => AccountStatus) | undefined;
  activity: Activity | ((index: number) => Activity) | undefined;
  specialAccounts: boolean;
  epochMs: number;
  timeScale: number;
  frozen: boolean;
  xBearerTokens: string[];
  agntdataApiKeys: string[];
  xRateLimit: number;
  xUserLookupRateLimit: number;
  xRateLimitWindowMs: number;
  agntdataRequestsPerMinute: number;
  agntdataCreditsCents: number | null;
  agntdataEnveloped: boolean;
  xTimelineCap: number;
  cursorTtlMs: number;
  shortPageRate: number;
  emptyPageRate: number;
  faults: string | FaultRule[];
  hangMs: number;
  requestLogSize: number;
  tweetCacheSize: number;
}

export const DEFAULT_X_BEARER_TOKEN = 'sandbox-x-token';
export const DEFAULT_AGNTDATA_API_KEY = 'sandbox-agntdata-key';

const MAX_ACCOUNTS = 100_000;

export class SandboxOptionsError extends Error {
  override readonly name = 'SandboxOptionsError';
}

function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1)
    throw new SandboxOptionsError(`${name}: expected an integer >= 1, got ${value}`);
  return value;
}

function share(name: string, value: number): number {
  if (!(value >= 0 && value <= 1))
    throw new SandboxOptionsError(`${name}: expected a number between 0 and 1, got ${value}`);
  return value;
}

export function resolveOptions(options: SandboxOptions): ResolvedOptions {
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new SandboxOptionsError(`port: expected 0..65535, got ${port}`);
  }
  const accounts = options.accounts ?? 50;
  // 100,000 start in seconds in ≈ 430 MB; 10^8 never got to listening (4.4 GB and counting).
  if (!Number.isInteger(accounts) || accounts < 0 || accounts > MAX_ACCOUNTS) {
    throw new SandboxOptionsError(
      `accounts: expected an integer from 0 to ${MAX_ACCOUNTS}, got ${accounts}`,
    );
  }
  const timeScale = options.timeScale ?? 1;
  const epochMs = options.epochMs ?? Date.now();
  const clock = clockProblem(epochMs, timeScale);
  if (clock !== undefined) throw new SandboxOptionsError(clock);
  const xBearerTokens = options.xBearerTokens ?? [DEFAULT_X_BEARER_TOKEN];
  const agntdataApiKeys = options.agntdataApiKeys ?? [DEFAULT_AGNTDATA_API_KEY];
  for (const token of [...xBearerTokens, ...agntdataApiKeys]) {
    if (token.length === 0 || /\s/.test(token)) {
      throw new SandboxOptionsError('credentials: tokens must be non-empty and contain no spaces');
    }
  }
  const credits = options.agntdataCreditsCents ?? null;
  if (credits !== null && (!Number.isInteger(credits) || credits < 0)) {
    throw new SandboxOptionsError(`agntdataCreditsCents: expected an integer >= 0, got ${credits}`);
  }
  return {
    port,
    host: options.host ?? '127.0.0.1',
    seed: String(options.seed ?? 'birdfeed'),
    accounts,
    tweetsPerAccount: options.tweetsPerAccount,
    accountStatus: options.accountStatus,
    activity: options.activity,
    specialAccounts: options.specialAccounts ?? true,
    epochMs,
    timeScale,
    frozen: options.frozen ?? false,
    xBearerTokens,
    agntdataApiKeys,
    xRateLimit: positiveInt('xRateLimit', options.xRateLimit ?? 1500),
    xUserLookupRateLimit: positiveInt('xUserLookupRateLimit', options.xUserLookupRateLimit ?? 300),
    xRateLimitWindowMs: positiveInt('xRateLimitWindowMs', options.xRateLimitWindowMs ?? 900_000),
    agntdataRequestsPerMinute: positiveInt(
      'agntdataRequestsPerMinute',
      options.agntdataRequestsPerMinute ?? 60,
    ),
    agntdataCreditsCents: credits,
    agntdataEnveloped: options.agntdataEnveloped ?? false,
    xTimelineCap: positiveInt('xTimelineCap', options.xTimelineCap ?? 3200),
    cursorTtlMs: positiveInt('cursorTtlMs', options.cursorTtlMs ?? 1_800_000),
    shortPageRate: share('shortPageRate', options.shortPageRate ?? 0.03),
    emptyPageRate: share('emptyPageRate', options.emptyPageRate ?? 0.01),
    faults: options.faults ?? [],
    hangMs: positiveInt('hangMs', options.hangMs ?? 60_000),
    requestLogSize: positiveInt('requestLogSize', options.requestLogSize ?? 10_000),
    tweetCacheSize: positiveInt('tweetCacheSize', options.tweetCacheSize ?? 200_000),
  };
}
