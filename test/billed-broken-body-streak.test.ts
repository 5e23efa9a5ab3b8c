import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { crawlTargetToEnd } from '@birdfeed/crawl';
import { type Database, getTarget, rowsOf, sql, upsertTarget } from '@birdfeed/db';
import { createAgntdataClient } from '@birdfeed/providers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningSandbox } from '../apps/sandbox/src/index.ts';
import { openSandboxDatabase, type SandboxDatabase } from './support/sandbox-database.ts';

/**
 * agntdata bills every 2xx, also one whose body then breaks off. A page whose body always breaks
 * off (a gateway's response-size cap, a body too slow for the body timeout) was a plain
 * transient: retried `attempts` times per run, every run, for ever, each one bought. It now
 * counts in the invalid-body streak: the second break in a row at the same position is not
 * retried in the run, the third marks the target 'failing'. A break followed by the page
 * written fine is forgotten: a flaky connection never fails a healthy target.
 */

let opened: SandboxDatabase;
let database: Database;
let sandbox: RunningSandbox;
/** A front for the sandbox that breaks off the body of the next `breakNext` requests. */
let server: Server;
let breakNext = 0;
let requests = 0;
let broken = 0;

beforeAll(async () => {
  opened = await openSandboxDatabase('billed_broken_body', {
    seed: 'billed-broken-body',
    accounts: 2,
    tweetsPerAccount: 200,
    activity: 'silent',
  });
  ({ database, sandbox } = opened);
  server = createServer((req, res) => {
    requests += 1;
    if (breakNext > 0) {
      breakNext -= 1;
      broken += 1;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '5000' });
      res.write('{"success":true,"data":{"user":');
      setTimeout(() => res.socket?.destroy(), 10);
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const headers = Object.fromEntries(
        Object.entries(req.headers).filter(
          (entry): entry is [string, string] =>
            typeof entry[1] === 'string' && !['host', 'content-length'].includes(entry[0]),
        ),
      );
      const body = chunks.length === 0 ? undefined : Buffer.concat(chunks);
      fetch(`${sandbox.url}${req.url ?? '/'}`, { method: req.method ?? 'GET', headers, body })
        .then(async (upstream) => {
          const text = Buffer.from(await upstream.arrayBuffer());
          res.writeHead(upstream.status, { 'content-type': 'application/json' });
          res.end(text);
        })
        .catch(() => res.socket?.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await opened?.close();
});

function client() {
  return createAgntdataClient({
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    apiKey: sandbox.agntdataApiKeys[0] ?? 'sandbox-agntdata-key',
    limit: 20,
    timeouts: { connectMs: 2_000, headersMs: 2_000, bodyMs: 2_000 },
  });
}

describe('a billed agntdata page whose body always breaks off', () => {
  it('is bought 3 times in all: retried once in the first run, the next run marks it failing', async () => {
    const { db } = database;
    const key = { provider: 'agntdata', userId: sandbox.accounts()[0]?.id as string } as const;
    await upsertTarget(db, key);
    const agntdata = client();
    requests = 0;
    breakNext = 1_000;
    const outcomes: string[] = [];
    try {
      for (let run = 1; run <= 4; run += 1) {
        const summary = await crawlTargetToEnd({
          db,
          client: agntdata,
          target: key,
          sleep: async () => {},
        });
        outcomes.push(`${summary.outcome}:${summary.errorName ?? ''}`);
      }
    } finally {
      breakNext = 0;
      await agntdata.close();
    }
    expect(requests).toBe(3);
    expect(outcomes).toEqual([
      'failed:BilledPageFailedError',
      'failed:BilledPageFailedError',
      'cancelled:',
      'cancelled:',
    ]);
    const target = await getTarget(db, key);
    expect(target?.state).toBe('failing');
    expect(target?.stateReason).toContain('broke off 3 times in a row');
    const [spend] = rowsOf<{ cents: number }>(
      await db.execute(sql`select sum(cost_cents)::int as cents from provider_spend`),
    );
    expect(spend?.cents).toBe(3);
  });

  it('a break on every page, each retried fine, neither fails the run nor marks the target', async () => {
    const { db } = database;
    const key = { provider: 'agntdata', userId: sandbox.accounts()[1]?.id as string } as const;
    await upsertTarget(db, { ...key, backfillDepth: 100 });
    const agntdata = client();
    broken = 0;
    const summary = await crawlTargetToEnd({
      db,
      client: agntdata,
      target: key,
      sleep: async () => {},
      onStep: () => {
        breakNext = 1;
      },
    }).finally(() => agntdata.close());
    breakNext = 0;
    expect(summary.outcome).toBe('succeeded');
    expect(summary.pages).toBeGreaterThanOrEqual(3);
    // Every page after the first broke off once, and was written on its retry.
    expect(broken).toBe(summary.pages - 1);
    expect(summary.retries).toBe(broken);
    expect((await getTarget(db, key))?.state).toBe('active');
  });
});
