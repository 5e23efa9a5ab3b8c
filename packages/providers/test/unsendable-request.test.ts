import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  BadRequestError,
  createAgntdataClient,
  createXClient,
  TransientError,
  UnauthorizedError,
} from '../src/index.ts';
import { type RecordingServer, startRecordingServer } from './recording-server.ts';

/**
 * Requests undici refuses to build (UND_ERR_INVALID_ARG) never reach the server and would fail
 * the same way on every retry: they must not come back as TransientError.
 */
const TOKEN = 'AAAAtoken-9f3e71';
let server: RecordingServer;

beforeAll(async () => {
  server = await startRecordingServer();
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  server.requests.length = 0;
});

async function thrownBy(work: () => Promise<unknown>): Promise<Error> {
  try {
    await work();
  } catch (error) {
    return error as Error;
  }
  throw new Error('the request succeeded');
}

describe('a request that can never be sent', () => {
  it.each([
    ['a CRLF line end', `${TOKEN}\r`],
    ['a newline', `${TOKEN}\n`],
    ['typographic quotes', `\u201c${TOKEN}\u201d`],
    ['a NUL', `${TOKEN}\u0000`],
  ])(
    'an X bearer token with %s: UnsendableCredentialError (a 401-class stop), nothing sent',
    async (_, token) => {
      const client = createXClient({ baseUrl: server.url, bearerToken: token });
      try {
        const error = await thrownBy(() => client.fetchTimelinePage({ userId: '12' }));
        expect(error.name).toBe('UnsendableCredentialError');
        expect(error).toBeInstanceOf(UnauthorizedError);
        expect(error).not.toBeInstanceOf(TransientError);
        expect(error.message).toMatch(
          /was not sent: UND_ERR_INVALID_ARG: invalid authorization header/,
        );
        expect(error.message).not.toContain(TOKEN);
        expect(server.requests).toHaveLength(0);
      } finally {
        await client.close();
      }
    },
  );

  it('an agntdata key with a CRLF line end: the same', async () => {
    const client = createAgntdataClient({ baseUrl: server.url, apiKey: `${TOKEN}\r` });
    try {
      const error = await thrownBy(() => client.fetchTimelinePage({ userId: '12' }));
      expect(error.name).toBe('UnsendableCredentialError');
      expect(error).toBeInstanceOf(UnauthorizedError);
      expect(server.requests).toHaveLength(0);
    } finally {
      await client.close();
    }
  });

  it.each([
    ['no scheme', 'localhost:4010'],
    ['ftp', 'ftp://127.0.0.1:4010'],
  ])(
    'a base URL with %s: UnsendableRequestError (a 4xx-class failure), not transient',
    async (_, baseUrl) => {
      const client = createAgntdataClient({ baseUrl, apiKey: TOKEN });
      try {
        const error = await thrownBy(() => client.fetchTimelinePage({ userId: '12' }));
        expect(error.name).toBe('UnsendableRequestError');
        expect(error).toBeInstanceOf(BadRequestError);
        expect(error).not.toBeInstanceOf(TransientError);
        expect(error.message).toMatch(/was not sent: UND_ERR_INVALID_ARG: .*protocol/i);
      } finally {
        await client.close();
      }
    },
  );
});
