import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import {
  type AgntdataRequest,
  agntdataUserMedias,
  parseAgntdataBody,
  parseAgntdataRequest,
} from './agntdata-api.ts';
import type { SandboxClock } from './clock.ts';
import { controlRequest, decodePathSegment } from './control-api.ts';
import { CursorCodec } from './cursor-codec.ts';
import { type FaultInjector, type FaultKind, FaultSpecError } from './faults.ts';
import { RequestWindow, type WindowState } from './rate-limit.ts';
import {
  agntdataError,
  json,
  type SandboxResponse,
  X_TOO_MANY_REQUESTS,
  X_UNAUTHORIZED,
  xServerError,
} from './responses.ts';
import type { ResolvedOptions } from './sandbox-options.ts';
import type { SandboxStats } from './stats.ts';
import type { World } from './world.ts';
import { xUserLookup, xUserTimeline } from './x-api.ts';

/**
 * The request pipeline shared by both providers: route → bearer auth → rate limit → fault →
 * handler → provider headers. Plain node:http, no framework: the sandbox must serve well over
 * 1,500 pages/s so that it is never the bottleneck of a pipeline benchmark.
 */
type Provider = 'x' | 'agntdata';

interface Credential {
  provider: Provider;
  label: string;
  token: string;
}

interface Route {
  provider: Provider;
  endpoint: string;
  run(ctx: RequestContext): SandboxResponse;
  params: Record<string, string>;
  /** agntdata POST bodies are read before the pipeline runs. */
  needsBody: boolean;
  /** Rate-limit bucket. */
  bucket: 'timeline' | 'lookup' | 'agntdata';
}

interface RequestContext {
  query: URLSearchParams;
  body: string;
  now: number;
  credential: Credential;
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' };

/** `GET /`: what a human who opens the URL in a browser can do next. */
const SANDBOX_INDEX = {
  name: 'birdfeed sandbox',
  x: ['GET /2/users/:id/tweets', 'GET /2/users/:id', 'GET /2/users/by/username/:username'],
  agntdata: [
    'POST /user/medias',
    'POST /user/medias/continuation',
    'GET /user/medias',
    'GET /user/medias/continuation',
  ],
  control: [
    'GET /_sandbox/accounts',
    'GET /_sandbox/truth/:userId',
    'GET /_sandbox/stats',
    'GET /_sandbox/requests',
    'GET|POST /_sandbox/clock',
    'GET|POST|DELETE /_sandbox/faults',
  ],
};
const MAX_BODY_BYTES = 64 * 1024;

export interface ServerParts {
  options: ResolvedOptions;
  world: World;
  clock: SandboxClock;
  faults: FaultInjector;
  stats: SandboxStats;
}

export class SandboxHandler {
  private readonly credentials = new Map<string, Credential>();
  private readonly windows = new Map<string, RequestWindow>();
  private readonly codec: CursorCodec;
  private readonly hung = new Set<Socket>();

  constructor(private readonly parts: ServerParts) {
    const { options } = parts;
    options.xBearerTokens.forEach((token, i) => {
      this.credentials.set(`x ${token}`, { provider: 'x', label: `x-${i + 1}`, token });
    });
    options.agntdataApiKeys.forEach((token, i) => {
      this.credentials.set(`agntdata ${token}`, {
        provider: 'agntdata',
        label: `agntdata-${i + 1}`,
        token,
      });
    });
    this.codec = new CursorCodec(`sandbox-cursor:${options.seed}`);
  }

  credentialLabels(): { provider: Provider; label: string; token: string }[] {
    return [...this.credentials.values()].map(({ provider, label, token }) => ({
      provider,
      label,
      token,
    }));
  }

  /** Drops requests left hanging by the `hang` fault (at stop). */
  releaseHung(): void {
    for (const socket of this.hung) socket.destroy();
    this.hung.clear();
  }

  handle = (req: IncomingMessage, res: ServerResponse): void => {
    // One bad request must not take the sandbox (and the demo serving it) down with it.
    try {
      this.dispatch(req, res);
    } catch (error) {
      send(res, sandboxBug(error), JSON_HEADERS);
    }
  };

  private dispatch(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const mark = url.indexOf('?');
    const path = mark < 0 ? url : url.slice(0, mark);
    const query = new URLSearchParams(mark < 0 ? '' : url.slice(mark + 1));
    const method = req.method ?? 'GET';
    if (path === '/' && method === 'GET') {
      send(res, json(200, SANDBOX_INDEX), JSON_HEADERS);
      return;
    }
    if (path.startsWith('/_sandbox/') || path === '/_sandbox') {
      readBody(req, (body) => {
        let response: SandboxResponse;
        try {
          response = controlRequest(this.parts, method, path, query, body);
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          response = json(
            error instanceof FaultSpecError || error instanceof RangeError ? 400 : 500,
            { error: message },
          );
        }
        send(res, response, JSON_HEADERS);
      });
      return;
    }
    const route = this.route(method, path, query);
    if (route === null) {
      send(
        res,
        json(404, {
          title: 'Not Found Error',
          detail: `No route for ${method} ${path}`,
          type: 'about:blank',
          status: 404,
        }),
        JSON_HEADERS,
      );
      return;
    }
    if (route.needsBody) {
      readBody(req, (body) => this.provider(req, res, route, query, body));
    } else {
      this.provider(req, res, route, query, '');
    }
  }

  private route(method: string, path: string, query: URLSearchParams): Route | null {
    const parts = path.split('/');
    // /2/users/:id/tweets, /2/users/:id, /2/users/by/username/:username
    if (parts[1] === '2' && parts[2] === 'users' && method === 'GET') {
      if (parts.length === 5 && parts[4] === 'tweets') {
        const userId = decodePathSegment(parts[3] ?? '');
        return {
          provider: 'x',
          endpoint: 'GET /2/users/:id/tweets',
          bucket: 'timeline',
          needsBody: false,
          params: pick(
            query,
            ['since_id', 'until_id', 'pagination_token', 'max_results', 'start_time', 'end_time'],
            { user_id: userId },
          ),
          run: (ctx) => xUserTimeline(this.xContext(ctx.now), userId, ctx.query),
        };
      }
      if (parts.length === 6 && parts[3] === 'by' && parts[4] === 'username') {
        const username = decodePathSegment(parts[5] ?? '');
        return {
          provider: 'x',
          endpoint: 'GET /2/users/by/username/:username',
          bucket: 'lookup',
          needsBody: false,
          params: { username },
          run: (ctx) => xUserLookup(this.xContext(ctx.now), 'username', username, ctx.query),
        };
      }
      if (parts.length === 4 && parts[3] !== '') {
        const userId = decodePathSegment(parts[3] ?? '');
        return {
          provider: 'x',
          endpoint: 'GET /2/users/:id',
          bucket: 'lookup',
          needsBody: false,
          params: { user_id: userId },
          run: (ctx) => xUserLookup(this.xContext(ctx.now), 'id', userId, ctx.query),
        };
      }
      return null;
    }
    if (path === '/user/medias' || path === '/user/medias/continuation') {
      if (method !== 'GET' && method !== 'POST') return null;
      const continuation = path.endsWith('/continuation');
      const isPost = method === 'POST';
      return {
        provider: 'agntdata',
        endpoint: `${method} ${path}`,
        bucket: 'agntdata',
        needsBody: isPost,
        params: {},
        run: (ctx) => {
          let source: Record<string, unknown>;
          if (isPost) {
            const parsed = parseAgntdataBody(ctx.body);
            if ('status' in parsed && 'body' in parsed && typeof parsed.status === 'number') {
              return parsed as SandboxResponse;
            }
            source = parsed as Record<string, unknown>;
          } else {
            source = Object.fromEntries(query.entries());
          }
          const request = parseAgntdataRequest(source, isPost ? 'body' : 'query', continuation);
          if ('status' in request) return request;
          return this.agntdata(ctx, request);
        },
      };
    }
    return null;
  }

  private xContext(now: number) {
    return { world: this.parts.world, codec: this.codec, options: this.parts.options, now };
  }

  private agntdata(ctx: RequestContext, request: AgntdataRequest): SandboxResponse {
    const { options, stats } = this.parts;
    let creditsRemaining: number | null = null;
    if (options.agntdataCreditsCents !== null) {
      creditsRemaining = options.agntdataCreditsCents - stats.spendOf(ctx.credential.label);
      if (creditsRemaining < 1) {
        return agntdataError(
          402,
          'INSUFFICIENT_CREDITS',
          'Your agntdata balance is exhausted: add credits to continue',
        );
      }
      creditsRemaining -= 1;
    }
    return agntdataUserMedias(
      { world: this.parts.world, codec: this.codec, options, now: ctx.now },
      request,
      1,
      creditsRemaining,
    );
  }

  private window(credential: Credential, bucket: Route['bucket']): RequestWindow {
    const key = `${credential.label} ${bucket}`;
    let window = this.windows.get(key);
    if (window === undefined) {
      const { options } = this.parts;
      if (bucket === 'agntdata')
        window = new RequestWindow(options.agntdataRequestsPerMinute, 60_000);
      else if (bucket === 'lookup')
        window = new RequestWindow(options.xUserLookupRateLimit, options.xRateLimitWindowMs);
      else window = new RequestWindow(options.xRateLimit, options.xRateLimitWindowMs);
      this.windows.set(key, window);
    }
    return window;
  }

  private rateHeaders(state: WindowState): Record<string, string> {
    return {
      'x-rate-limit-limit': String(state.limit),
      'x-rate-limit-remaining': String(state.remaining),
      'x-rate-limit-reset': String(Math.ceil(this.parts.clock.toRealMs(state.resetAtMs) / 1000)),
    };
  }

  private retryAfterSeconds(state: WindowState): number {
    const { clock } = this.parts;
    return Math.max(1, Math.ceil(clock.toRealDuration(state.resetAtMs - clock.now()) / 1000));
  }

  private provider(
    req: IncomingMessage,
    res: ServerResponse,
    route: Route,
    query: URLSearchParams,
    body: string,
  ): void {
    const { clock, stats, faults } = this.parts;
    const now = clock.now();
    const params = route.provider === 'agntdata' ? agntdataParams(query, body) : route.params;
    const log = (credential: string | null, status: number, fault: FaultKind | null) =>
      stats.record({
        at: new Date().toISOString(),
        sandboxAt: new Date(now).toISOString(),
        provider: route.provider,
        endpoint: route.endpoint,
        method: req.method ?? 'GET',
        credential,
        status,
        fault,
        params,
      });

    const credential = this.authenticate(req, route.provider);
    if (credential === null) {
      stats.countUnauthorized();
      log(null, 401, null);
      send(
        res,
        route.provider === 'x'
          ? X_UNAUTHORIZED
          : agntdataError(401, 'UNAUTHORIZED', 'Missing or invalid API key'),
        JSON_HEADERS,
      );
      return;
    }
    stats.countRequest(credential.label, route.endpoint);

    const window = this.window(credential, route.bucket);
    const { allowed, state } = window.take(now);
    const headers: Record<string, string> =
      route.provider === 'x'
        ? { ...JSON_HEADERS, ...this.rateHeaders(state) }
        : { ...JSON_HEADERS };
    if (!allowed) {
      stats.countRateLimited(credential.label, route.endpoint);
      log(credential.label, 429, null);
      send(res, this.tooManyRequests(route.provider, state), headers);
      return;
    }

    const fault = faults.decide(route.provider);
    if (fault !== null) stats.countFault(credential.label, route.endpoint, fault);
    if (fault === 'reset') {
      log(credential.label, 0, fault);
      req.socket.destroy();
      return;
    }
    if (fault === 'hang') {
      log(credential.label, 0, fault);
      const socket = req.socket;
      this.hung.add(socket);
      const timer = setTimeout(() => socket.destroy(), this.parts.options.hangMs);
      timer.unref();
      socket.once('close', () => {
        clearTimeout(timer);
        this.hung.delete(socket);
      });
      return;
    }
    if (fault === '500' || fault === '503') {
      const status = fault === '500' ? 500 : 503;
      log(credential.label, status, fault);
      send(
        res,
        route.provider === 'x'
          ? xServerError(status)
          : agntdataError(
              status,
              status === 500 ? 'INTERNAL_ERROR' : 'SERVICE_UNAVAILABLE',
              'Upstream provider error',
            ),
        headers,
      );
      return;
    }
    if (fault === '429') {
      log(credential.label, 429, fault);
      const exhausted = { ...state, remaining: 0 };
      send(
        res,
        this.tooManyRequests(route.provider, exhausted),
        route.provider === 'x' ? { ...JSON_HEADERS, ...this.rateHeaders(exhausted) } : headers,
      );
      return;
    }

    let response: SandboxResponse;
    try {
      response = route.run({ query, body, now, credential });
    } catch (error) {
      log(credential.label, 500, null);
      send(res, sandboxBug(error), headers);
      return;
    }
    // A 200 is billed whatever reaches the client (agntdata's Pricing): a body the fault
    // mangles below was still a successful call, as the client counts it.
    const billed =
      fault === null || fault === 'empty' || fault === 'malformed' || fault === 'truncated';
    if (response.status === 200 && billed && response.costCents !== undefined) {
      stats.countSpend(credential.label, response.costCents);
    }
    log(credential.label, response.status, fault);
    if (fault === 'empty') {
      send(res, { status: 200, body: '' }, headers);
    } else if (fault === 'malformed' || fault === 'truncated') {
      const full = bodyBuffer(response.body);
      // malformed: cut short and closed wrongly, a syntax error rather than a schema error;
      // truncated: the first half, as if the connection had been cut mid-body.
      const body =
        fault === 'malformed'
          ? Buffer.concat([full.subarray(0, Math.floor(full.length / 3)), Buffer.from(']}')])
          : full.subarray(0, Math.floor(full.length / 2));
      send(res, { status: 200, body }, headers);
    } else {
      send(res, response, headers);
    }
  }

  private tooManyRequests(provider: Provider, state: WindowState): SandboxResponse {
    if (provider === 'x') return X_TOO_MANY_REQUESTS;
    const retryAfter = this.retryAfterSeconds(state);
    const response = agntdataError(
      429,
      'RATE_LIMITED',
      `Rate limit exceeded: retry in ${retryAfter}s`,
      retryAfter,
    );
    return { ...response, headers: { 'retry-after': String(retryAfter) } };
  }

  private authenticate(req: IncomingMessage, provider: Provider): Credential | null {
    const header = req.headers.authorization;
    if (header === undefined || !header.startsWith('Bearer ')) return null;
    return this.credentials.get(`${provider} ${header.slice(7).trim()}`) ?? null;
  }
}

function pick(
  query: URLSearchParams,
  names: string[],
  extra: Record<string, string>,
): Record<string, string> {
  const out: Record<string, string> = { ...extra };
  for (const name of names) {
    const value = query.get(name);
    if (value !== null) out[name] = value;
  }
  return out;
}

function agntdataParams(query: URLSearchParams, body: string): Record<string, string> {
  const out: Record<string, string> = {};
  const read = (name: string, value: string | undefined) => {
    if (value !== undefined) out[name] = value;
  };
  if (body !== '') {
    // Textual, so a user_id above 2^53 is logged exactly as it was sent.
    read('user_id', /"user_id"\s*:\s*"?(-?\d+)/.exec(body)?.[1]);
    read('limit', /"limit"\s*:\s*"?(-?\d+)/.exec(body)?.[1]);
    read('continuation_token', /"continuation_token"\s*:\s*"([^"]*)"/.exec(body)?.[1]);
  } else {
    for (const name of ['user_id', 'limit', 'continuation_token'])
      read(name, query.get(name) ?? undefined);
  }
  return out;
}

function readBody(req: IncomingMessage, done: (body: string) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  });
  req.on('end', () => done(Buffer.concat(chunks).toString('utf8')));
  req.on('error', () => req.socket.destroy());
}

function bodyBuffer(body: SandboxResponse['body']): Buffer {
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  return Array.isArray(body) ? Buffer.concat(body) : body;
}

/** A 500 in X's problem shape: what a throw inside the sandbox answers. */
function sandboxBug(error: unknown): SandboxResponse {
  const message = error instanceof Error ? error.message : String(error);
  return json(500, {
    title: 'Internal Server Error',
    detail: `sandbox bug: ${message}`,
    type: 'about:blank',
    status: 500,
  });
}

function send(
  res: ServerResponse,
  response: SandboxResponse,
  headers: Record<string, string>,
): void {
  if (res.writableEnded || res.destroyed) return;
  const chunks = Array.isArray(response.body) ? response.body : [bodyBuffer(response.body)];
  let length = 0;
  for (const chunk of chunks) length += chunk.length;
  res.writeHead(response.status, {
    ...headers,
    ...response.headers,
    'content-length': String(length),
  });
  // Corked, the chunks leave in one writev: no copy of the page into one buffer.
  res.cork();
  for (const chunk of chunks) res.write(chunk);
  res.end();
}
