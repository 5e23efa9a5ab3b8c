import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createAgntdataClient,
  createXClient,
  ProviderError,
  redactPaths,
  type TimelineClient,
} from '../src/index.ts';
import { readFixture } from './fixtures.ts';
import { type RecordingServer, startRecordingServer } from './recording-server.ts';

const X_TOKEN = 'AAAAxBearerSecret9f8e7d6c5b4a';
const AGNT_KEY = 'agnt_live_key_1a2b3c4d5e6f';

function capturingLogger() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const logger = pino({ level: 'debug', redact: redactPaths }, stream);
  return { logger, lines };
}

let server: RecordingServer;
const { logger, lines } = capturingLogger();
let x: TimelineClient;
let agntdata: TimelineClient;

beforeAll(async () => {
  server = await startRecordingServer();
  x = createXClient({ baseUrl: server.url, bearerToken: X_TOKEN, logger });
  agntdata = createAgntdataClient({ baseUrl: server.url, apiKey: AGNT_KEY, logger });
});

afterAll(async () => {
  await x.close();
  await agntdata.close();
  await server.close();
});

async function outcome(promise: Promise<unknown>): Promise<string> {
  try {
    const fetched = await promise;
    return JSON.stringify(fetched);
  } catch (error) {
    expect(error).toBeInstanceOf(ProviderError);
    const e = error as Error & { rawBody?: string };
    return `${e.message}\n${e.stack ?? ''}\n${e.rawBody ?? ''}`;
  }
}

describe('logging and secrets', () => {
  it('logs one structured line per request and never a credential', async () => {
    const seen: string[] = [];
    // A server that echoes the client's Authorization header back, in bodies and error details.
    const echo = (status: number, secret: string, shape: (auth: string) => unknown) => ({
      status,
      body: JSON.stringify(shape(`Bearer ${secret}`)),
      headers: {
        'x-rate-limit-limit': '1500',
        'x-rate-limit-remaining': '1234',
        'x-rate-limit-reset': String(Math.floor(Date.now() / 1000) + 900),
      },
    });

    const cassette = JSON.parse(
      readFixture('x-v2/tweepy/2021-04_test_client_get_users_tweets.json'),
    );
    server.reply({
      status: 200,
      body: JSON.stringify(cassette.body),
      headers: {
        'x-rate-limit-limit': '1500',
        'x-rate-limit-remaining': '1499',
        'x-rate-limit-reset': '1618286183',
      },
    });
    seen.push(await outcome(x.fetchTimelinePage({ userId: '783214' })));
    server.reply(
      echo(401, X_TOKEN, (auth) => ({ title: 'Unauthorized', detail: `bad credential ${auth}` })),
    );
    seen.push(await outcome(x.fetchTimelinePage({ userId: '783214' })));
    server.reply(echo(429, X_TOKEN, (auth) => ({ title: 'Too Many Requests', detail: auth })));
    seen.push(await outcome(x.fetchTimelinePage({ userId: '783214' })));
    server.reply(echo(200, X_TOKEN, (auth) => ({ data: [{ id: 'bad', text: auth }] })));
    seen.push(await outcome(x.fetchTimelinePage({ userId: '783214' })));
    server.reply(
      echo(402, AGNT_KEY, (auth) => ({
        success: false,
        error: { code: 'NO_CREDITS', message: auth },
      })),
    );
    seen.push(await outcome(agntdata.fetchTimelinePage({ userId: '44196397' })));
    server.reply({ status: 200, body: readFixture('agntdata/user_medias_docs_example.json') });
    seen.push(await outcome(agntdata.fetchTimelinePage({ userId: '44196397' })));
    server.reply({ destroy: true });
    seen.push(await outcome(agntdata.fetchTimelinePage({ userId: '44196397' })));

    // The requests did carry the credentials…
    expect(server.requests.some((r) => r.headers.authorization === `Bearer ${X_TOKEN}`)).toBe(true);
    expect(server.requests.some((r) => r.headers.authorization === `Bearer ${AGNT_KEY}`)).toBe(
      true,
    );
    // …and the echoed bodies did reach the client: the scrubbing is what hides them.
    expect(seen.join('\n')).toContain('[REDACTED]');

    expect(lines).toHaveLength(7);
    const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records[0]).toMatchObject({
      provider: 'x',
      endpoint: '/2/users/:id/tweets',
      status: 200,
      rateLimitRemaining: 1499,
      userId: '783214',
    });
    expect(records[1]).toMatchObject({ status: 401, error: 'UnauthorizedError' });
    expect(records[2]).toMatchObject({ status: 429, rateLimitRemaining: 1234 });
    expect(records[3]).toMatchObject({ status: 200, error: 'InvalidResponseError' });
    expect(records[4]).toMatchObject({
      provider: 'agntdata',
      endpoint: '/user/medias',
      status: 402,
    });
    expect(records[5]).toMatchObject({ provider: 'agntdata', status: 200, costCents: 1 });
    expect(records[6]).toMatchObject({ status: null, error: 'TransientError' });
    for (const record of records) expect(typeof record.durationMs).toBe('number');

    for (const text of [...lines, ...seen]) {
      expect(text).not.toContain(X_TOKEN);
      expect(text).not.toContain(AGNT_KEY);
    }
  });

  it('an echo in another form (\\/ for /, %-encoded, cut off) never reaches a message or body', async () => {
    const token = 'AAAA/xBearer+Secret/9f8e7d==';
    const apiKey = 'sk_live/Q9fSECRET+b64/Zz==';
    const slashX = createXClient({ baseUrl: server.url, bearerToken: token, logger });
    const slashAgnt = createAgntdataClient({ baseUrl: server.url, apiKey, logger });
    const php = (secret: string) => `Bearer ${secret.replaceAll('/', '\\/')}`;
    try {
      const seen: string[] = [];
      // Bodies in no error shape the clients know: the message quotes them raw.
      server.reply({ status: 500, body: `{"error":"invalid","received":"${php(token)}"}` });
      seen.push(await outcome(slashX.fetchTimelinePage({ userId: '783214' })));
      server.reply({ status: 500, body: `<p>auth=${encodeURIComponent(`Bearer ${token}`)}</p>` });
      seen.push(await outcome(slashX.fetchTimelinePage({ userId: '783214' })));
      server.reply({ status: 500, body: `{"received":"${php(apiKey)}"}` });
      seen.push(await outcome(slashAgnt.fetchTimelinePage({ userId: '44196397' })));
      // A 200 body that breaks off inside the echoed key: kept (invalid) as the raw body.
      server.reply({ status: 200, body: `{"echo":"Bearer ${apiKey.slice(0, 20)}` });
      const cut = await outcome(slashAgnt.fetchTimelinePage({ userId: '44196397' }));
      expect(cut.trimEnd().endsWith('Bearer [REDACTED]')).toBe(true);
      seen.push(cut);
      expect(seen.join('\n')).toContain('[REDACTED]');
      for (const text of [...lines, ...seen]) {
        expect(text).not.toMatch(/SECRET|Secret/);
      }
    } finally {
      await slashX.close();
      await slashAgnt.close();
    }
  });

  it('redactPaths hides credentials that a caller logs by mistake', () => {
    const { logger: own, lines: out } = capturingLogger();
    own.info({ headers: { authorization: `Bearer ${X_TOKEN}` } }, 'a');
    own.info({ options: { apiKey: AGNT_KEY, bearerToken: X_TOKEN } }, 'b');
    own.info({ env: { X_BEARER_TOKEN: X_TOKEN, AGNTDATA_API_KEY: AGNT_KEY } }, 'c');
    expect(out).toHaveLength(3);
    for (const line of out) {
      expect(line).toContain('[Redacted]');
      expect(line).not.toContain(X_TOKEN);
      expect(line).not.toContain(AGNT_KEY);
    }
  });
});
