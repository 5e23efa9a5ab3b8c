import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  AccountUnavailableError,
  agntdataRequestBody,
  BadRequestError,
  createAgntdataClient,
  InvalidCursorError,
  InvalidResponseError,
  OutOfCreditsError,
  RateLimitedError,
  type TimelineClient,
  TransientError,
  UnauthorizedError,
} from '../src/index.ts';
import { readFixture } from './fixtures.ts';
import { failure, type RecordingServer, startRecordingServer } from './recording-server.ts';

const KEY = 'agnt-test-key-5d1e8a';
const DOCS = readFixture('agntdata/user_medias_docs_example.json');
let server: RecordingServer;
let client: TimelineClient;

beforeAll(async () => {
  server = await startRecordingServer();
  client = createAgntdataClient({
    baseUrl: `${server.url}/v1/twitter`,
    apiKey: KEY,
    // Generous: a loaded machine can pause the test process for a second.
    timeouts: { connectMs: 5000, headersMs: 5000, bodyMs: 5000 },
  });
});

afterAll(async () => {
  await client.close();
  await server.close();
});

beforeEach(() => {
  server.requests.length = 0;
});

describe('agntdata client', () => {
  it('writes a user id above 2^53 to the wire unchanged, as a JSON number', async () => {
    server.reply({ status: 200, body: DOCS });
    const fetched = await client.fetchTimelinePage({
      userId: '1234567890123456789',
      sinceId: '5', // no such parameter upstream: ignored
    });
    expect(server.requests).toHaveLength(1);
    const request = server.requests[0]!;
    expect(request.method).toBe('POST');
    expect(request.url).toBe('/v1/twitter/user/medias');
    expect(request.body).toBe('{"user_id":1234567890123456789,"limit":20}');
    // Through a JS number it would have been rounded: the test can tell the difference.
    expect(String(Number('1234567890123456789'))).not.toBe('1234567890123456789');
    expect(request.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(request.headers['content-type']).toBe('application/json');

    expect(fetched.status).toBe(200);
    expect(fetched.page.provider).toBe('agntdata');
    expect(fetched.page.userId).toBe('1234567890123456789');
    expect(fetched.page.tweets).toHaveLength(3);
    expect(fetched.page.cursor.next).toBe('DAABCgABGrfEhOE___0KAAIatxiwfNex7ggAAwAAAAIAAA');
    expect(fetched.costCents).toBe(1);
    expect(fetched.rawBody).toBe(DOCS);
    expect(fetched.requestUrl).toBe(`${server.url}/v1/twitter/user/medias`);
    expect(fetched.rateLimit).toBeNull();
  });

  it('continues with the token, reads the envelope cost and rate-limit headers', async () => {
    const envelope = JSON.stringify({
      success: true,
      data: JSON.parse(DOCS),
      meta: { costCents: 3, requestId: 'r1' },
    });
    server.reply({
      status: 200,
      body: envelope,
      headers: {
        'x-ratelimit-limit': '60',
        'x-ratelimit-remaining': '59',
        'x-ratelimit-reset': '30',
      },
    });
    const before = Date.now();
    const fetched = await client.fetchTimelinePage({
      userId: '44196397',
      cursor: 'DAAB"quoted"',
      maxResults: 40,
    });
    const request = server.requests[0]!;
    expect(request.url).toBe('/v1/twitter/user/medias/continuation');
    expect(request.body).toBe(
      '{"user_id":44196397,"limit":40,"continuation_token":"DAAB\\"quoted\\""}',
    );
    expect(JSON.parse(request.body).continuation_token).toBe('DAAB"quoted"');
    expect(fetched.costCents).toBe(3);
    expect(fetched.page.tweets).toHaveLength(3);
    expect(fetched.rateLimit?.limit).toBe(60);
    expect(fetched.rateLimit?.remaining).toBe(59);
    expect(fetched.rateLimit?.resetAt.getTime()).toBeGreaterThanOrEqual(before + 30_000);
  });

  it('builds the body from the decimal string and refuses anything else', () => {
    expect(agntdataRequestBody('9223372036854775807', 10)).toBe(
      '{"user_id":9223372036854775807,"limit":10}',
    );
    expect(() => agntdataRequestBody('12e3', 10)).toThrow(BadRequestError);
    expect(() => agntdataRequestBody('1, "x": 2', 10)).toThrow(BadRequestError);
  });

  it('429 → RateLimitedError from Retry-After, else the body retryAfter', async () => {
    server.reply({
      status: 429,
      body: JSON.stringify({
        success: false,
        error: { code: 'RATE_LIMITED', message: 'slow down' },
      }),
      headers: { 'retry-after': '7' },
    });
    const before = Date.now();
    const fromHeader = (await failure(
      client.fetchTimelinePage({ userId: '1' }),
    )) as RateLimitedError;
    expect(fromHeader).toBeInstanceOf(RateLimitedError);
    expect(fromHeader.resetAt.getTime()).toBeGreaterThanOrEqual(before + 7000);
    // Bounded by the clock after the answer, not before + slack: a slow first request on a
    // loaded machine is not a wrong reset.
    expect(fromHeader.resetAt.getTime()).toBeLessThanOrEqual(Date.now() + 7000);

    server.reply({
      status: 429,
      body: JSON.stringify({
        success: false,
        error: { code: 'RATE_LIMITED', message: 'slow down', retryAfter: 42 },
      }),
    });
    const fromBody = (await failure(client.fetchTimelinePage({ userId: '1' }))) as RateLimitedError;
    expect(fromBody.resetAt.getTime()).toBeGreaterThanOrEqual(before + 42_000);
    expect(fromBody.resetAt.getTime()).toBeLessThan(Date.now() + 43_000);
  });

  it('402 and credit errors → OutOfCreditsError; 401/403 → UnauthorizedError', async () => {
    server.reply({
      status: 402,
      body: '{"success":false,"error":{"code":"PAYMENT_REQUIRED","message":"top up"}}',
    });
    expect(await failure(client.fetchTimelinePage({ userId: '1' }))).toBeInstanceOf(
      OutOfCreditsError,
    );
    server.reply({
      status: 200,
      body: '{"success":false,"error":{"code":"INSUFFICIENT_CREDITS","message":"balance is 0"}}',
    });
    expect(await failure(client.fetchTimelinePage({ userId: '1' }))).toBeInstanceOf(
      OutOfCreditsError,
    );
    server.reply({
      status: 401,
      body: '{"success":false,"error":{"code":"UNAUTHORIZED","message":"bad key"}}',
    });
    expect(await failure(client.fetchTimelinePage({ userId: '1' }))).toBeInstanceOf(
      UnauthorizedError,
    );
    server.reply({
      status: 403,
      body: '{"success":false,"error":{"code":"FORBIDDEN","message":"no"}}',
    });
    expect(await failure(client.fetchTimelinePage({ userId: '1' }))).toBeInstanceOf(
      UnauthorizedError,
    );
  });

  it('an expired continuation token → InvalidCursorError (service error or 422 on the field)', async () => {
    server.reply({
      status: 400,
      body: JSON.stringify({
        success: false,
        error: {
          code: 'INVALID_CONTINUATION_TOKEN',
          message: 'continuation token expired or invalid',
        },
      }),
    });
    expect(await failure(client.fetchTimelinePage({ userId: '1', cursor: 'old' }))).toBeInstanceOf(
      InvalidCursorError,
    );
    server.reply({
      status: 422,
      body: '{"detail":[{"loc":["body","continuation_token"],"msg":"expired","type":"value_error"}]}',
    });
    expect(await failure(client.fetchTimelinePage({ userId: '1', cursor: 'old' }))).toBeInstanceOf(
      InvalidCursorError,
    );
    // The documented 422 (empty loc) is some other validation problem: a bad request.
    server.reply({
      status: 422,
      body: readFixture('agntdata/validation_error_422_docs_example.json'),
    });
    expect(await failure(client.fetchTimelinePage({ userId: '1' }))).toBeInstanceOf(
      BadRequestError,
    );
  });

  it('a missing or suspended user → AccountUnavailableError; a bare 404 → BadRequestError', async () => {
    server.reply({
      status: 404,
      body: '{"success":false,"error":{"code":"USER_NOT_FOUND","message":"user 1 not found"}}',
    });
    const missing = (await failure(
      client.fetchTimelinePage({ userId: '1' }),
    )) as AccountUnavailableError;
    expect(missing).toBeInstanceOf(AccountUnavailableError);
    expect(missing.reason).toBe('not_found');
    expect(missing.userId).toBe('1');
    server.reply({
      status: 403,
      body: '{"success":false,"error":{"code":"USER_SUSPENDED","message":"user is suspended"}}',
    });
    const suspended = (await failure(
      client.fetchTimelinePage({ userId: '1' }),
    )) as AccountUnavailableError;
    expect(suspended.reason).toBe('suspended');
    server.reply({ status: 404, body: 'Not Found', headers: { 'content-type': 'text/plain' } });
    expect(await failure(client.fetchTimelinePage({ userId: '1' }))).toBeInstanceOf(
      BadRequestError,
    );
  });

  it('5xx and a broken connection → TransientError; a bad body → InvalidResponseError', async () => {
    server.reply({ status: 502, body: '<html>bad gateway</html>' });
    expect(await failure(client.fetchTimelinePage({ userId: '1' }))).toBeInstanceOf(TransientError);
    server.reply({ destroy: true });
    expect(await failure(client.fetchTimelinePage({ userId: '1' }))).toBeInstanceOf(TransientError);
    const body = DOCS.replace(
      '"tweet_id": "1925041236596986027"',
      '"tweet_id": 1925041236596986027',
    );
    expect(body).not.toBe(DOCS);
    server.reply({ status: 200, body });
    const invalid = (await failure(
      client.fetchTimelinePage({ userId: '1' }),
    )) as InvalidResponseError;
    expect(invalid).toBeInstanceOf(InvalidResponseError);
    expect(invalid.path).toBe('results[1].tweet_id');
    expect(invalid.rawBody).toBe(body);
    // A 200 is billed whatever our schema thinks of its body.
    expect(invalid.costCents).toBe(1);
  });

  it("an error response's rate-limit headers ride on its error, a bad 200's too", async () => {
    const window = { 'ratelimit-limit': '60', 'ratelimit-remaining': '0', 'ratelimit-reset': '20' };
    server.reply({
      status: 503,
      body: '{"success":false,"error":{"code":"SERVICE_UNAVAILABLE","message":"Upstream provider error"}}',
      headers: window,
    });
    const before = Date.now();
    const unavailable = (await failure(
      client.fetchTimelinePage({ userId: '1' }),
    )) as TransientError;
    expect(unavailable).toBeInstanceOf(TransientError);
    expect(unavailable.rateLimit?.limit).toBe(60);
    expect(unavailable.rateLimit?.remaining).toBe(0);
    // IETF `ratelimit-reset` is seconds from now.
    expect(unavailable.rateLimit?.resetAt.getTime()).toBeGreaterThanOrEqual(before + 20_000);
    expect(unavailable.rateLimit?.resetAt.getTime()).toBeLessThanOrEqual(Date.now() + 20_000);

    server.reply({ status: 200, body: '{"results":"not a list"}', headers: window });
    const invalid = (await failure(
      client.fetchTimelinePage({ userId: '1' }),
    )) as InvalidResponseError;
    expect(invalid).toBeInstanceOf(InvalidResponseError);
    expect(invalid.rateLimit?.remaining).toBe(0);
  });
});
