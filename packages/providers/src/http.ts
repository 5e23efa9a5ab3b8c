import type { CanonicalPage, ProviderName } from '@birdfeed/model';
import type { Logger } from 'pino';
import { Agent, request } from 'undici';
import {
  ProviderError,
  TransientError,
  UnsendableCredentialError,
  UnsendableRequestError,
} from './errors.ts';
import { type HeaderMap, readRateLimit } from './rate-limit.ts';
import type { ClientTimeouts, FetchedPage } from './types.ts';

export const DEFAULT_TIMEOUTS: Required<ClientTimeouts> = {
  connectMs: 10_000,
  headersMs: 30_000,
  bodyMs: 30_000,
};

/**
 * pino `redact` paths for any logger that might see a request, its options or the environment.
 * The clients never log headers or options themselves; this is the belt to that pair of braces.
 */
export const redactPaths: string[] = [
  'authorization',
  'Authorization',
  'headers.authorization',
  'headers.Authorization',
  'req.headers.authorization',
  'request.headers.authorization',
  '*.authorization',
  '*.Authorization',
  '*.headers.authorization',
  '*.headers.Authorization',
  'bearerToken',
  '*.bearerToken',
  'apiKey',
  '*.apiKey',
  'token',
  '*.token',
  'X_BEARER_TOKEN',
  'AGNTDATA_API_KEY',
  '*.X_BEARER_TOKEN',
  '*.AGNTDATA_API_KEY',
];

const REDACTED = '[REDACTED]';

/**
 * The forms a secret can come back in when a server echoes it: as sent, JSON-escaped (with `/`
 * as `\/` too, as PHP and others write it), %-encoded (either hex case) and %-decoded (X's app
 * tokens hold %-escapes). Longest first, so a longer form is replaced before a form inside it.
 */
function secretForms(secret: string): string[] {
  const json = JSON.stringify(secret).slice(1, -1);
  const encoded = encodeURIComponent(secret);
  const forms = [
    secret,
    json,
    json.replaceAll('/', '\\/'),
    encoded,
    encoded.replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase()),
  ];
  try {
    forms.push(decodeURIComponent(secret));
  } catch {
    // not %-encoded: no decoded form
  }
  return [...new Set(forms)].filter((form) => form.length >= 4).sort((a, b) => b.length - a.length);
}

/**
 * A body cut off inside an echoed secret still ends with its beginning: redacted when it goes
 * this far past the secret's leading run of one character (X's bearer tokens start with ~21
 * "A"s, which a tweet may well end with too).
 */
const MIN_CUT_PREFIX = 8;

function leadingRun(text: string): number {
  let run = 0;
  while (run < text.length && text[run] === text[0]) run += 1;
  return run;
}

/**
 * Replaces every occurrence of each secret, in every form a server may echo it, and a secret's
 * beginning where the text ends (a body cut off inside it); used on bodies and messages before
 * they leave the client.
 */
export function createScrubber(secrets: readonly string[]): (text: string) => string {
  const forms = [
    ...new Set(secrets.filter((secret) => secret.length >= 4).flatMap(secretForms)),
  ].sort((a, b) => b.length - a.length);
  return (text) => {
    let out = text;
    for (const form of forms) {
      if (out.includes(form)) out = out.split(form).join(REDACTED);
    }
    for (const form of forms) {
      const shortest = leadingRun(form) + MIN_CUT_PREFIX;
      for (let length = form.length - 1; length >= shortest; length -= 1) {
        if (out.endsWith(form.slice(0, length))) {
          out = `${out.slice(0, out.length - length)}${REDACTED}`;
          break;
        }
      }
    }
    return out;
  };
}

/**
 * Error messages quote what a server said, and a server can echo a credential in a form no
 * scrubber list foresees: whatever follows `Bearer` or names an authorization/API-key field is
 * redacted there too. (Not in stored bodies: a tweet may say "Bearer" and must stay as written.)
 */
const CREDENTIAL_PATTERNS: readonly RegExp[] = [
  /\b(Bearer(?:\s+|%20|\+))([A-Za-z0-9\-._~+/%\\]+=*)/gi,
  /("?(?:authorization|x-api-key|api[-_]?key|access[-_]?token|bearer[-_]?token)"?\s*[:=]\s*"?(?:(?:Bearer|Token|Basic|ApiKey|Key)(?:\s+|%20))?)([^"\s,}&]+)/gi,
];

/** A value shaped like a token, not a word ("Bearer authentication required", "api_key: field"). */
function looksLikeCredential(value: string): boolean {
  return (value.length >= 8 && /[\d%+/=]/.test(value)) || value.length >= 20;
}

export function redactCredentials(message: string): string {
  let out = message;
  for (const pattern of CREDENTIAL_PATTERNS) {
    out = out.replace(pattern, (match, name: string, value: string) =>
      looksLikeCredential(value) ? `${name}${REDACTED}` : match,
    );
  }
  return out;
}

/** A URL safe to return and log: no userinfo (credentials never travel in the query). */
export function safeUrl(url: URL): string {
  const copy = new URL(url.href);
  copy.username = '';
  copy.password = '';
  return copy.href;
}

export function createDispatcher(timeouts: ClientTimeouts | undefined): Agent {
  const t = { ...DEFAULT_TIMEOUTS, ...timeouts };
  return new Agent({
    connect: { timeout: t.connectMs },
    headersTimeout: t.headersMs,
    bodyTimeout: t.bodyMs,
  });
}

export interface RawResponse {
  status: number;
  headers: HeaderMap;
  /** Body text, scrubbed of the client's secrets. */
  text: string;
  durationMs: number;
}

export interface SendOptions {
  provider: ProviderName;
  dispatcher: Agent;
  method: 'GET' | 'POST';
  url: URL;
  headers: Record<string, string>;
  body?: string;
  signal?: AbortSignal | undefined;
  scrub: (text: string) => string;
}

const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
]);

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  return errorCode((error as { cause?: unknown }).cause);
}

/** undici's codes for a request it refuses to build: retrying the same request cannot help. */
const UNSENDABLE_CODES = new Set(['UND_ERR_INVALID_ARG', 'UND_ERR_NOT_SUPPORTED']);

/**
 * One HTTP exchange. Network failures (timeouts, resets, refused connections, broken sockets)
 * become TransientError; an abort by the caller's signal is rethrown as is. A request undici
 * will not send (an Authorization header it cannot carry, a URL that is not http/https) is an
 * Unsendable*Error: never retried, it stops the provider or fails the page with the cause.
 */
export async function send(options: SendOptions): Promise<RawResponse> {
  const started = performance.now();
  // Set once the status line is in: a body that then breaks off was still answered (and, on
  // agntdata, billed) with that status.
  let answered: number | undefined;
  try {
    const response = await request(options.url, {
      dispatcher: options.dispatcher,
      method: options.method,
      headers: options.headers,
      body: options.body ?? null,
      signal: options.signal ?? null,
    });
    answered = response.statusCode;
    const text = await response.body.text();
    return {
      status: response.statusCode,
      headers: response.headers as HeaderMap,
      text: options.scrub(text),
      durationMs: Math.round(performance.now() - started),
    };
  } catch (error) {
    const exchange = `${options.provider} ${options.method} ${options.url.pathname}`;
    // A 2xx status line whose body then broke off (on agntdata: billed, no page).
    const bodyCut = answered !== undefined && answered >= 200 && answered < 300;
    if (options.signal?.aborted) {
      if (answered === undefined) throw error;
      // The status line was in before the caller's signal cut the body: the exchange was
      // answered (on agntdata, a 2xx is billed), so the error carries the status like a body
      // that broke off on its own, or the budget would give the cent back and buy it again.
      throw new TransientError(
        options.provider,
        `${exchange} was aborted (its deadline, or a stop) while reading the body of a ${answered} response`,
        { cause: error, status: answered, bodyCut },
      );
    }
    const code = errorCode(error);
    const reason = redactCredentials(
      options.scrub(error instanceof Error ? error.message : String(error)),
    );
    if (code !== undefined && UNSENDABLE_CODES.has(code)) {
      // undici names the header ("invalid authorization header"), never its value.
      if (/authorization/i.test(reason)) {
        throw new UnsendableCredentialError(
          options.provider,
          `${exchange} was not sent: ${code}: ${reason}: the ${options.provider} credential holds a character no HTTP header can carry (a CR/LF line end, a control or non-ASCII character); every request with it fails the same way`,
          { cause: error },
        );
      }
      throw new UnsendableRequestError(
        options.provider,
        `${exchange} was not sent: ${code}: ${reason}; the same request fails the same way every time`,
        { cause: error },
      );
    }
    const during = answered === undefined ? '' : ` (reading the body of a ${answered} response)`;
    const message = `${exchange} failed${during}: ${code ?? 'network error'}: ${reason}`;
    if (code === undefined || TRANSIENT_CODES.has(code) || code.startsWith('UND_ERR')) {
      throw new TransientError(options.provider, message, {
        cause: error,
        status: answered,
        bodyCut,
      });
    }
    throw new ProviderError(options.provider, message, { cause: error, status: answered, bodyCut });
  }
}

export interface RequestLogLine {
  provider: ProviderName;
  endpoint: string;
  method: string;
  userId: string;
  status: number | null;
  durationMs: number;
  rateLimitRemaining: number | null;
  costCents: number;
  error?: string;
}

/**
 * One structured line per request; never headers, options or bodies. Info even when the
 * request failed: whoever handles the failure (the worker's job, the one-shot's retry, the
 * crawl step) logs it once at warn or error with what happens next, so a retried 5xx is one
 * warning, not two.
 */
export function logRequest(logger: Logger | undefined, line: RequestLogLine, message: string) {
  logger?.info(line, message);
}

/** The request a client is making, as its log lines name it. */
export interface RequestContext {
  provider: ProviderName;
  endpoint: string;
  method: string;
  userId: string;
  /** `performance.now()` when the request began, for the duration of one that never answered. */
  started: number;
}

/** The fields every request log line names the request by. */
function requestFields({ provider, endpoint, method, userId }: RequestContext) {
  return { provider, endpoint, method, userId };
}

/** Logs a request that gave a page and hands the page out as a client returns it. */
export function fetchedPage(
  logger: Logger | undefined,
  ctx: RequestContext,
  response: RawResponse,
  result: { page: CanonicalPage; requestUrl: string; costCents: number },
): FetchedPage {
  const rateLimit = readRateLimit(response.headers);
  logRequest(
    logger,
    {
      ...requestFields(ctx),
      status: response.status,
      durationMs: response.durationMs,
      rateLimitRemaining: rateLimit?.remaining ?? null,
      costCents: result.costCents,
    },
    'provider request',
  );
  return {
    page: result.page,
    rawBody: response.text,
    status: response.status,
    requestUrl: result.requestUrl,
    rateLimit,
    costCents: result.costCents,
    durationMs: response.durationMs,
  };
}

/**
 * Puts what a failed request's response said about the provider's window on its error (see
 * ProviderError.rateLimit), read as a page's is (the reset at most an hour away, the provider's
 * clock turned into this one's): whoever holds for a page's `remaining: 0` holds for an
 * error's too, instead of spending the next request on a 429.
 */
export function noteRateLimit(error: unknown, response: RawResponse | undefined): void {
  if (response === undefined || !(error instanceof ProviderError)) return;
  error.rateLimit = readRateLimit(response.headers);
}

/** Logs a request that failed, with the error's class (`response` is undefined when none came). */
export function logRequestFailure(
  logger: Logger | undefined,
  ctx: RequestContext,
  response: RawResponse | undefined,
  costCents: number,
  error: unknown,
): void {
  logRequest(
    logger,
    {
      ...requestFields(ctx),
      // A body that broke off came with a status line, though with no response to hold it.
      status: response?.status ?? (error instanceof ProviderError ? (error.status ?? null) : null),
      durationMs: response?.durationMs ?? Math.round(performance.now() - ctx.started),
      rateLimitRemaining:
        response === undefined ? null : (readRateLimit(response.headers)?.remaining ?? null),
      costCents,
      error: error instanceof ProviderError ? error.name : 'Error',
    },
    'provider request failed',
  );
}
