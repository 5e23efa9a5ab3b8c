import { afterEach, describe, expect, it } from 'vitest';
import { type RunningSandbox, startSandbox } from '../src/index.ts';
import { AGNTDATA_KEY, agntdataPost, control, X_TOKEN, xGet } from './helpers.ts';

const EPOCH = Date.UTC(2026, 0, 15, 12);
const running: RunningSandbox[] = [];

async function sandboxWith(options: Parameters<typeof startSandbox>[0]) {
  const sandbox = await startSandbox({
    seed: 'limits',
    accounts: 4,
    epochMs: EPOCH,
    frozen: true,
    tweetsPerAccount: 40,
    ...options,
  });
  running.push(sandbox);
  return sandbox;
}
afterEach(async () => {
  await Promise.all(running.splice(0).map((sandbox) => sandbox.stop()));
});

describe('bearer auth', () => {
  it('refuses a missing or wrong token with each provider’s 401', async () => {
    const sandbox = await sandboxWith({});
    const id = sandbox.accounts()[0]!.id;
    for (const token of [null, 'wrong', AGNTDATA_KEY]) {
      const page = await xGet(sandbox, `/2/users/${id}/tweets`, {}, token);
      expect(page.status).toBe(401);
      expect(page.json).toEqual({
        title: 'Unauthorized',
        type: 'about:blank',
        status: 401,
        detail: 'Unauthorized',
      });
    }
    for (const token of [null, 'wrong', X_TOKEN]) {
      const page = await agntdataPost(sandbox, '/user/medias', { user_id: Number(id) }, token);
      expect(page.status).toBe(401);
      expect(page.json).toMatchObject({ success: false, error: { code: 'UNAUTHORIZED' } });
    }
    const stats = sandbox.stats();
    expect(stats.unauthorized).toBe(6);
    expect(stats.requests.total).toBe(0);
    // The request log names credentials by label and never holds a token.
    expect(JSON.stringify(sandbox.requests())).not.toContain('sandbox-');
  });

  it('accepts several configured tokens, each with its own window', async () => {
    const sandbox = await sandboxWith({ xBearerTokens: ['tok-a', 'tok-b'], xRateLimit: 2 });
    const id = sandbox.accounts()[0]!.id;
    const path = `/2/users/${id}/tweets`;
    expect((await xGet(sandbox, path, {}, 'tok-a')).headers.get('x-rate-limit-remaining')).toBe(
      '1',
    );
    expect((await xGet(sandbox, path, {}, 'tok-a')).headers.get('x-rate-limit-remaining')).toBe(
      '0',
    );
    expect((await xGet(sandbox, path, {}, 'tok-a')).status).toBe(429);
    const other = await xGet(sandbox, path, {}, 'tok-b');
    expect(other.status).toBe(200);
    expect(other.headers.get('x-rate-limit-remaining')).toBe('1');
    expect(sandbox.stats().requests.by_credential).toEqual({
      'x-1': { 'GET /2/users/:id/tweets': 3 },
      'x-2': { 'GET /2/users/:id/tweets': 1 },
    });
    expect(sandbox.stats().rate_limited.by_credential).toEqual({
      'x-1': { 'GET /2/users/:id/tweets': 1 },
    });
  });
});

describe('routes', () => {
  it('lists its endpoints at / and answers unknown routes with 404', async () => {
    const sandbox = await sandboxWith({});
    const index = await fetch(`${sandbox.url}/`);
    expect(await index.json()).toMatchObject({ name: 'birdfeed sandbox' });
    const missing = await xGet(sandbox, '/2/tweets/search/recent');
    expect(missing.status).toBe(404);
    const wrongMethod = await agntdataPost(sandbox, '/2/users/1/tweets', {});
    expect(wrongMethod.status).toBe(404);
  });
});

describe('X rate limit', () => {
  it('counts down in headers, answers 429 with the real body, and resets with the window', async () => {
    const sandbox = await sandboxWith({ xRateLimit: 3 });
    const id = sandbox.accounts()[0]!.id;
    const path = `/2/users/${id}/tweets`;
    const before = Date.now();
    const first = await xGet(sandbox, path);
    expect(first.headers.get('x-rate-limit-limit')).toBe('3');
    expect(first.headers.get('x-rate-limit-remaining')).toBe('2');
    const reset = Number(first.headers.get('x-rate-limit-reset'));
    // The reset is wall-clock epoch seconds 15 minutes on (frozen clock, time scale 1).
    expect(reset).toBeGreaterThanOrEqual(Math.floor(before / 1000) + 899);
    expect(reset).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + 901);
    await xGet(sandbox, path);
    await xGet(sandbox, path);
    const limited = await xGet(sandbox, path);
    expect(limited.status).toBe(429);
    // As X sends it (Postman's recorded 429): plain text, not JSON.
    expect(limited.text).toBe('Rate limit exceeded\n');
    expect(limited.headers.get('content-type')).toBe('text/plain;charset=utf-8');
    expect(limited.headers.get('x-rate-limit-remaining')).toBe('0');
    // The same window end; with the clock frozen it maps to "now + what is left" in wall time,
    // whose whole second may tick over between the first request and this one.
    const limitedReset = Number(limited.headers.get('x-rate-limit-reset'));
    expect(limitedReset - reset).toBeGreaterThanOrEqual(0);
    expect(limitedReset - reset).toBeLessThanOrEqual(1);
    sandbox.clock.advance(15 * 60_000);
    const after = await xGet(sandbox, path);
    expect(after.status).toBe(200);
    expect(after.headers.get('x-rate-limit-remaining')).toBe('2');
  });

  it('maps the window onto wall-clock time through the time scale', async () => {
    const sandbox = await sandboxWith({ timeScale: 900, frozen: false });
    const id = sandbox.accounts()[0]!.id;
    const page = await xGet(sandbox, `/2/users/${id}/tweets`);
    const seconds = Number(page.headers.get('x-rate-limit-reset')) - Date.now() / 1000;
    // 15 sandbox minutes at x900 are one wall-clock second.
    expect(seconds).toBeLessThanOrEqual(2);
    expect(seconds).toBeGreaterThan(-1);
  });
});

describe('agntdata rate limit and spend', () => {
  it('answers 429 with Retry-After past the per-minute budget and counts a cent per success', async () => {
    const sandbox = await sandboxWith({ agntdataRequestsPerMinute: 2 });
    const id = sandbox.accounts()[0]!.id;
    expect((await agntdataPost(sandbox, '/user/medias', { user_id: Number(id) })).status).toBe(200);
    expect((await agntdataPost(sandbox, '/user/medias', { user_id: 'bad' })).status).toBe(422);
    const limited = await agntdataPost(sandbox, '/user/medias', { user_id: Number(id) });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(59);
    expect(limited.json).toEqual({
      success: false,
      error: {
        code: 'RATE_LIMITED',
        message: expect.any(String),
        retryAfter: Number(limited.headers.get('retry-after')),
      },
    });
    sandbox.clock.advance(60_000);
    expect((await agntdataPost(sandbox, '/user/medias', { user_id: Number(id) })).status).toBe(200);
    const stats = sandbox.stats();
    expect(stats.spend_cents).toEqual({ total: 2, by_credential: { 'agntdata-1': 2 } });
    expect(stats.rate_limited.total).toBe(1);
  });

  it('counts a cent for a 200 whose body a fault cut short, as agntdata bills it', async () => {
    const sandbox = await sandboxWith({});
    const id = sandbox.accounts()[0]!.id;
    expect((await control(sandbox, 'faults', { spec: 'truncated*1@agntdata' })).status).toBe(200);
    const cut = await agntdataPost(sandbox, '/user/medias', { user_id: Number(id) });
    expect(cut.status).toBe(200);
    expect(cut.json).toBeUndefined();
    expect(sandbox.stats().spend_cents.total).toBe(1);
  });

  it('answers 402 once the credits are spent', async () => {
    const sandbox = await sandboxWith({ agntdataCreditsCents: 2, agntdataEnveloped: true });
    const id = sandbox.accounts()[0]!.id;
    const first = await agntdataPost(sandbox, '/user/medias', { user_id: Number(id) });
    expect(first.json.meta).toMatchObject({ costCents: 1, creditsRemainingCents: 1 });
    expect((await agntdataPost(sandbox, '/user/medias', { user_id: Number(id) })).status).toBe(200);
    const broke = await agntdataPost(sandbox, '/user/medias', { user_id: Number(id) });
    expect(broke.status).toBe(402);
    expect(broke.json).toMatchObject({ success: false, error: { code: 'INSUFFICIENT_CREDITS' } });
    expect(sandbox.stats().spend_cents.total).toBe(2);
  });
});
