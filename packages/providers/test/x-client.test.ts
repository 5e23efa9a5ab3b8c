import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  AccountUnavailableError,
  BadRequestError,
  createXClient,
  InvalidCursorError,
  InvalidResponseError,
  OutOfCreditsError,
  RateLimitedError,
  readRecordings,
  type TimelineClient,
  TransientError,
  UnauthorizedError,
} from '../src/index.ts';
import { readFixture } from './fixtures.ts';
import { failure, type RecordingServer, startRecordingServer } from './recording-server.ts';

const TOKEN = 'x-test-bearer-0b7c3f9e';
let server: RecordingServer;
let client: TimelineClient;

beforeAll(async () => {
  server = await startRecordingServer();
  client = createXClient({
    baseUrl: `${server.url}/`,
    bearerToken: TOKEN,
    // Generous: a loaded machine can pause the test process for a second. The hang test uses
    // a client of its own with short timeouts.
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

const cassette = readRecordings(
  readFixture('x-v2/tweepy/2021-04_test_client_get_users_tweets.json'),
  'cassette',
)[0]!;

describe('X client: GET /2/users/:id/tweets', () => {
  it('sends every parameter and returns the page, rate limit and a secret-free URL', async () => {
    server.reply({ status: 200, body: cassette.body, headers: cassette.headers });
    const fetched = await client.fetchTimelinePage({
      userId: '783214',
      sinceId: '1379492700869775361',
      untilId: '1380306486962782209',
      cursor: 'tok123',
      maxResults: 50,
    });
    expect(server.requests).toHaveLength(1);
    const request = server.requests[0]!;
    expect(request.method).toBe('GET');
    expect(request.headers.authorization).toBe(`Bearer ${TOKEN}`);
    const url = new URL(request.url, server.url);
    expect(url.pathname).toBe('/2/users/783214/tweets');
    expect(url.searchParams.get('max_results')).toBe('50');
    expect(url.searchParams.get('since_id')).toBe('1379492700869775361');
    expect(url.searchParams.get('until_id')).toBe('1380306486962782209');
    expect(url.searchParams.get('pagination_token')).toBe('tok123');
    expect(url.searchParams.get('expansions')).toBe(
      'attachments.media_keys,author_id,referenced_tweets.id,referenced_tweets.id.author_id',
    );
    const tweetFields = url.searchParams.get('tweet.fields')?.split(',');
    expect(tweetFields).toEqual(
      expect.arrayContaining([
        'created_at',
        'public_metrics',
        'entities',
        'lang',
        'conversation_id',
        'in_reply_to_user_id',
        'referenced_tweets',
        'source',
        'possibly_sensitive',
        'note_tweet',
        'edit_history_tweet_ids',
        'attachments',
        'author_id',
      ]),
    );
    expect(url.searchParams.get('media.fields')?.split(',')).toEqual(
      expect.arrayContaining([
        'variants',
        'alt_text',
        'public_metrics',
        'duration_ms',
        'width',
        'height',
        'url',
        'preview_image_url',
      ]),
    );
    expect(url.searchParams.get('user.fields')?.split(',')).toEqual(
      expect.arrayContaining([
        'public_metrics',
        'created_at',
        'description',
        'location',
        'profile_image_url',
        'verified',
        'verified_type',
        'protected',
        'url',
      ]),
    );

    expect(fetched.status).toBe(200);
    expect(fetched.page.tweets).toHaveLength(10);
    expect(fetched.page.cursor.next).toBe('7140dibdnow9c7btw3w3yduzof7t8ap8xdnfj36j06wj6');
    expect(fetched.rateLimit).toEqual({
      limit: 1500,
      remaining: 1499,
      resetAt: new Date(1618286183 * 1000),
    });
    expect(fetched.rawBody).toBe(cassette.body);
    expect(fetched.costCents).toBe(0);
    expect(fetched.durationMs).toBeGreaterThanOrEqual(0);
    expect(fetched.requestUrl).toBe(new URL(request.url, server.url).href);
    expect(fetched.requestUrl).not.toContain(TOKEN);
  });

  it('clamps max_results to 5..100 and leaves out absent parameters', async () => {
    server.reply({ status: 200, body: '{"meta":{"result_count":0}}' });
    await client.fetchTimelinePage({ userId: '1', maxResults: 2 });
    await client.fetchTimelinePage({ userId: '1', maxResults: 500, sinceId: null, cursor: null });
    await client.fetchTimelinePage({ userId: '1' });
    const params = server.requests.map((r) => new URL(r.url, server.url).searchParams);
    expect(params.map((p) => p.get('max_results'))).toEqual(['5', '100', '100']);
    expect(params.every((p) => !p.has('since_id') && !p.has('pagination_token'))).toBe(true);
  });

  it('refuses a non-decimal user id without sending anything', async () => {
    const error = await failure(client.fetchTimelinePage({ userId: '78 3214' }));
    expect(error).toBeInstanceOf(BadRequestError);
    expect(server.requests).toHaveLength(0);
  });

  it('429 → RateLimitedError with resetAt from x-rate-limit-reset', async () => {
    const reset = Math.floor(Date.now() / 1000) + 600;
    server.reply({
      status: 429,
      body: 'Rate limit exceeded\n',
      headers: {
        'content-type': 'text/plain;charset=utf-8',
        'x-rate-limit-limit': '1500',
        'x-rate-limit-remaining': '0',
        'x-rate-limit-reset': String(reset),
      },
    });
    const error = (await failure(client.fetchTimelinePage({ userId: '1' }))) as RateLimitedError;
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error.resetAt.getTime()).toBe(reset * 1000);
    expect(error.limit).toBe(1500);
    expect(error.remaining).toBe(0);
    expect(error.status).toBe(429);
    expect(error.provider).toBe('x');
  });

  it('429 → resetAt from Retry-After, in seconds or as an HTTP date', async () => {
    server.reply({
      status: 429,
      body: '{"title":"Too Many Requests"}',
      headers: { 'retry-after': '120' },
    });
    const before = Date.now();
    const seconds = (await failure(client.fetchTimelinePage({ userId: '1' }))) as RateLimitedError;
    expect(seconds.resetAt.getTime()).toBeGreaterThanOrEqual(before + 119_000);
    expect(seconds.resetAt.getTime()).toBeLessThanOrEqual(Date.now() + 121_000);

    const at = new Date(Math.ceil(Date.now() / 1000) * 1000 + 300_000);
    server.reply({ status: 429, body: '', headers: { 'retry-after': at.toUTCString() } });
    const dated = (await failure(client.fetchTimelinePage({ userId: '1' }))) as RateLimitedError;
    expect(dated.resetAt.getTime()).toBe(at.getTime());
  });

  it('429 usage-capped → OutOfCreditsError', async () => {
    server.reply({
      status: 429,
      body: JSON.stringify({
        title: 'UsageCapExceeded',
        detail: 'Usage cap exceeded: Monthly product cap',
        type: 'https://api.twitter.com/2/problems/usage-capped',
      }),
    });
    expect(await failure(client.fetchTimelinePage({ userId: '1' }))).toBeInstanceOf(
      OutOfCreditsError,
    );
  });

  it('401 and 403 client-forbidden → UnauthorizedError (the postman bodies)', async () => {
    const file = 'x-v2/postman/twitter-api-v2.postman_collection.json';
    const examples = readRecordings(readFixture(file), file);
    for (const status of [401, 403]) {
      const example = examples.find((r) => r.status === status)!;
      server.reply({ status, body: example.body });
      const error = await failure(client.fetchTimelinePage({ userId: '1' }));
      expect(error).toBeInstanceOf(UnauthorizedError);
      expect((error as UnauthorizedError).status).toBe(status);
    }
  });

  it('200 with only a resource-not-found user error → AccountUnavailableError not_found', async () => {
    // The postman "User Not Found" example, for the user we asked about.
    const file = 'x-v2/postman/twitter-api-v2.postman_collection.json';
    const example = readRecordings(readFixture(file), file).find((r) =>
      r.label.endsWith('User by ID/200 Success - User Not Found'),
    )!;
    server.reply({ status: 200, body: example.body });
    const error = (await failure(
      client.fetchTimelinePage({ userId: '2244994946' }),
    )) as AccountUnavailableError;
    expect(error).toBeInstanceOf(AccountUnavailableError);
    expect(error.reason).toBe('not_found');
    expect(error.userId).toBe('2244994946');
  });

  it('suspended and protected accounts → AccountUnavailableError', async () => {
    server.reply({
      status: 200,
      body: JSON.stringify({
        errors: [
          {
            value: '42',
            detail: 'User has been suspended: [42].',
            title: 'Forbidden',
            resource_type: 'user',
            parameter: 'id',
            resource_id: '42',
            type: 'https://api.twitter.com/2/problems/resource-unavailable',
          },
        ],
      }),
    });
    const suspended = (await failure(
      client.fetchTimelinePage({ userId: '42' }),
    )) as AccountUnavailableError;
    expect(suspended.reason).toBe('suspended');

    server.reply({
      status: 403,
      body: JSON.stringify({
        errors: [
          {
            detail: 'Sorry, you are not authorized to see the user with id: [43].',
            title: 'Authorization Error',
            resource_type: 'user',
            parameter: 'id',
            resource_id: '43',
            value: '43',
            section: 'data',
            type: 'https://api.x.com/2/problems/not-authorized-for-resource',
          },
        ],
      }),
    });
    const protectedAccount = (await failure(
      client.fetchTimelinePage({ userId: '43' }),
    )) as AccountUnavailableError;
    expect(protectedAccount).toBeInstanceOf(AccountUnavailableError);
    expect(protectedAccount.reason).toBe('protected');
    expect(protectedAccount.status).toBe(403);
  });

  it('keeps errors about other resources beside the data as partial errors', async () => {
    const [first] = readRecordings(readFixture('x-v2/tidy_tweet/ObservatoryTeam.jsonl'), 'f.jsonl');
    server.reply({ status: 200, body: first!.body });
    const fetched = await client.fetchTimelinePage({ userId: '1' });
    expect(fetched.page.partialErrors.length).toBeGreaterThan(0);
    expect(fetched.page.tweets.length).toBeGreaterThan(0);
  });

  it('400 about the pagination token → InvalidCursorError; another 400 → BadRequestError', async () => {
    server.reply({
      status: 400,
      body: JSON.stringify({
        errors: [
          {
            parameters: { pagination_token: ['expired'] },
            message: 'The `pagination_token` query parameter value [expired] is not valid',
          },
        ],
        title: 'Invalid Request',
        detail: 'One or more parameters to your request was invalid.',
        type: 'https://api.twitter.com/2/problems/invalid-request',
      }),
    });
    expect(
      await failure(client.fetchTimelinePage({ userId: '1', cursor: 'expired' })),
    ).toBeInstanceOf(InvalidCursorError);
    const file = 'x-v2/postman/twitter-api-v2.postman_collection.json';
    const tooMany = readRecordings(readFixture(file), file).find((r) => r.status === 400)!;
    server.reply({ status: 400, body: tooMany.body });
    expect(await failure(client.fetchTimelinePage({ userId: '1' }))).toBeInstanceOf(
      BadRequestError,
    );
  });

  it('5xx, a reset connection and a silent server → TransientError', async () => {
    server.reply({ status: 503, body: '{"title":"Service Unavailable"}' });
    expect(await failure(client.fetchTimelinePage({ userId: '1' }))).toBeInstanceOf(TransientError);
    server.reply({ destroy: true });
    expect(await failure(client.fetchTimelinePage({ userId: '1' }))).toBeInstanceOf(TransientError);
    server.reply({ hang: true });
    const quick = createXClient({
      baseUrl: `${server.url}/`,
      bearerToken: TOKEN,
      timeouts: { connectMs: 1000, headersMs: 500, bodyMs: 500 },
    });
    try {
      const timeout = await failure(quick.fetchTimelinePage({ userId: '1' }));
      expect(timeout).toBeInstanceOf(TransientError);
      expect(timeout.message).toMatch(/HEADERS_TIMEOUT/);
    } finally {
      await quick.close();
    }
  });

  it("the caller's abort is passed through, not turned into a retryable error", async () => {
    server.reply({ hang: true });
    const controller = new AbortController();
    const pending = client.fetchTimelinePage({ userId: '1', signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    const error = await failure(pending);
    expect(error).not.toBeInstanceOf(TransientError);
    expect(error.name).toMatch(/Abort/);
  });

  it('a refused connection → TransientError', async () => {
    const closed = await startRecordingServer();
    const url = closed.url;
    await closed.close();
    const orphan = createXClient({ baseUrl: url, bearerToken: TOKEN });
    try {
      expect(await failure(orphan.fetchTimelinePage({ userId: '1' }))).toBeInstanceOf(
        TransientError,
      );
    } finally {
      await orphan.close();
    }
  });

  it('a malformed 200 → InvalidResponseError with the path and the raw body', async () => {
    const body = '{"data":[{"id":"1","text":"a"},{"id":"2","text":"b","author_id":"x9"}]}';
    server.reply({ status: 200, body });
    const error = (await failure(
      client.fetchTimelinePage({ userId: '1' }),
    )) as InvalidResponseError;
    expect(error).toBeInstanceOf(InvalidResponseError);
    expect(error.path).toBe('data[1].author_id');
    expect(error.rawBody).toBe(body);

    server.reply({ status: 200, body: '{"data":[{"id":"1","te' });
    const truncated = (await failure(
      client.fetchTimelinePage({ userId: '1' }),
    )) as InvalidResponseError;
    expect(truncated.path).toBe('$');
    expect(truncated.rawBody).toBe('{"data":[{"id":"1","te');
  });

  it("an error response's rate-limit headers ride on its error, read as a page's are", async () => {
    const reset = Math.floor(Date.now() / 1000) + 90;
    const window = (remaining: number, resetSeconds: number) => ({
      'x-rate-limit-limit': '1500',
      'x-rate-limit-remaining': String(remaining),
      'x-rate-limit-reset': String(resetSeconds),
    });
    // The last request of the window answered 503: the retry must wait for the reset.
    server.reply({
      status: 503,
      body: '{"title":"Service Unavailable"}',
      headers: window(0, reset),
    });
    const unavailable = (await failure(
      client.fetchTimelinePage({ userId: '1' }),
    )) as TransientError;
    expect(unavailable).toBeInstanceOf(TransientError);
    expect(unavailable.rateLimit).toEqual({
      limit: 1500,
      remaining: 0,
      resetAt: new Date(reset * 1000),
    });
    expect(unavailable.message).not.toContain(TOKEN);

    // A reset two days away is a misread header, cut to an hour as a page's is.
    server.reply({
      status: 400,
      body: '{"errors":[{"parameters":{"pagination_token":["x"]},"message":"bad pagination_token"}]}',
      headers: window(3, reset + 2 * 86_400),
    });
    const before = Date.now();
    const cursor = (await failure(
      client.fetchTimelinePage({ userId: '1', cursor: 'x' }),
    )) as InvalidCursorError;
    expect(cursor).toBeInstanceOf(InvalidCursorError);
    expect(cursor.rateLimit?.remaining).toBe(3);
    expect(cursor.rateLimit?.resetAt.getTime()).toBeLessThanOrEqual(Date.now() + 3_600_000);
    expect(cursor.rateLimit?.resetAt.getTime()).toBeGreaterThanOrEqual(before + 3_600_000);

    // The provider's clock 30 s behind this one (its Date header): the reset is moved to ours.
    server.reply({
      status: 500,
      body: '{"title":"Internal Server Error"}',
      headers: { ...window(0, reset), date: new Date(Date.now() - 30_000).toUTCString() },
    });
    const behind = (await failure(client.fetchTimelinePage({ userId: '1' }))) as TransientError;
    const shift = (behind.rateLimit?.resetAt.getTime() ?? 0) - reset * 1000;
    expect(shift).toBeGreaterThanOrEqual(30_000);
    expect(shift).toBeLessThanOrEqual(32_000);

    // Headers that do not describe a window (none, or a reset that is not a number): nothing.
    server.reply({
      status: 502,
      body: 'Bad Gateway',
      headers: { ...window(0, reset), 'x-rate-limit-reset': 'NaN' },
    });
    expect(
      ((await failure(client.fetchTimelinePage({ userId: '1' }))) as TransientError).rateLimit,
    ).toBeNull();
    server.reply({ status: 503, body: '{"title":"Service Unavailable"}' });
    expect(
      ((await failure(client.fetchTimelinePage({ userId: '1' }))) as TransientError).rateLimit,
    ).toBeNull();
  });
});
