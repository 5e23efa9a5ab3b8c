import {
  createAgntdataClient,
  InvalidResponseError,
  OutOfCreditsError,
  type TimelineClient,
} from '@birdfeed/providers';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSandbox, startSandbox } from '../apps/sandbox/src/index.ts';
import { readFixture } from '../packages/providers/test/fixtures.ts';
import {
  failure,
  type RecordingServer,
  startRecordingServer,
} from '../packages/providers/test/recording-server.ts';

/**
 * agntdata bills every successful (2xx) call, "Failed requests (4xx/5xx) are not charged"
 * (seeds/agntdata-user-medias.txt): the client's cost follows the status, not whether its body
 * then reads. Over HTTP, against the sandbox's own faults and a server answering what we ask.
 */
const timeouts = { connectMs: 5_000, headersMs: 5_000, bodyMs: 5_000 };

function costsLogged() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: 'info' },
    { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { logger, costs: () => lines.map((line) => line.costCents) };
}

describe('agntdata cost of a 2xx whose body does not read (sandbox faults)', () => {
  let sandbox: RunningSandbox;
  let client: TimelineClient;
  let userId: string;

  beforeAll(async () => {
    sandbox = await startSandbox({ port: 0, seed: 'agntdata-cost', accounts: 2, frozen: true });
    client = createAgntdataClient({
      baseUrl: sandbox.url,
      apiKey: sandbox.agntdataApiKeys[0] ?? 'sandbox-agntdata-key',
      timeouts,
    });
    userId = sandbox.accounts()[0]?.id as string;
  });
  afterAll(async () => {
    await client.close();
    await sandbox.stop();
  });

  it.each(['truncated', 'malformed', 'empty'])('a 200 whose body is %s costs 1¢', async (kind) => {
    sandbox.faults.add(`${kind}*1@agntdata`);
    const error = await failure(client.fetchTimelinePage({ userId }));
    expect(error).toBeInstanceOf(InvalidResponseError);
    expect((error as InvalidResponseError).path).toBe('$');
    expect((error as InvalidResponseError).costCents).toBe(1);
    // The fault is spent: the next call reads and costs the same.
    expect((await client.fetchTimelinePage({ userId })).costCents).toBe(1);
  });

  it('a 503 costs nothing', async () => {
    const { logger, costs } = costsLogged();
    const logged = createAgntdataClient({
      baseUrl: sandbox.url,
      apiKey: sandbox.agntdataApiKeys[0] ?? 'sandbox-agntdata-key',
      timeouts,
      logger,
    });
    try {
      sandbox.faults.add('503*1@agntdata');
      await failure(logged.fetchTimelinePage({ userId }));
      expect(costs()).toEqual([0]);
    } finally {
      await logged.close();
    }
  });
});

describe('agntdata cost, from a server answering exactly what the test asks', () => {
  let server: RecordingServer;
  beforeAll(async () => {
    server = await startRecordingServer();
  });
  afterAll(async () => {
    await server.close();
  });

  async function costOf(reply: { status: number; body: string }) {
    const { logger, costs } = costsLogged();
    const client = createAgntdataClient({
      baseUrl: server.url,
      apiKey: 'k-123456',
      timeouts,
      logger,
    });
    try {
      server.reply(reply);
      const outcome = await client
        .fetchTimelinePage({ userId: '12' })
        .catch((error: unknown) => error);
      return { outcome, logged: costs() };
    } finally {
      await client.close();
    }
  }

  it('a 200 that is HTML, or the documented body cut short, costs 1¢ (logged and on the error)', async () => {
    const docs = readFixture('agntdata/user_medias_docs_example.json');
    for (const body of ['<html>upstream proxy page</html>', docs.slice(0, docs.length - 40)]) {
      const { outcome, logged } = await costOf({ status: 200, body });
      expect(outcome).toBeInstanceOf(InvalidResponseError);
      expect((outcome as InvalidResponseError).costCents).toBe(1);
      expect(logged).toEqual([1]);
    }
  });

  it('a 200 whose envelope says success:false is a failed call: not charged', async () => {
    const { outcome, logged } = await costOf({
      status: 200,
      body: JSON.stringify({
        success: false,
        error: { code: 'INSUFFICIENT_CREDITS', message: 'insufficient credits' },
      }),
    });
    expect(outcome).toBeInstanceOf(OutOfCreditsError);
    expect(logged).toEqual([0]);
  });
});
