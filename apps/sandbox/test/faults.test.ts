import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFaultSpec, type RunningSandbox, startSandbox } from '../src/index.ts';
import { agntdataPost, control, X_TOKEN, xGet } from './helpers.ts';

const EPOCH = Date.UTC(2026, 0, 15, 12);
let sandbox: RunningSandbox;
let id: string;

beforeAll(async () => {
  sandbox = await startSandbox({
    seed: 'faults',
    accounts: 3,
    epochMs: EPOCH,
    frozen: true,
    tweetsPerAccount: 30,
    hangMs: 5_000,
  });
  id = sandbox.accounts()[0]!.id;
});
afterAll(() => sandbox.stop());

const timeline = () => `/2/users/${id}/tweets`;

describe('fault injection', () => {
  it('serves 500 and 503 in each provider’s shape, then recovers', async () => {
    sandbox.faults.add('500*1@x,503*1@agntdata');
    const x = await xGet(sandbox, timeline());
    expect(x.status).toBe(500);
    expect(x.json).toMatchObject({ title: 'Internal Server Error', status: 500 });
    expect(x.headers.get('x-rate-limit-remaining')).not.toBeNull();
    const agntdata = await agntdataPost(sandbox, '/user/medias', { user_id: Number(id) });
    expect(agntdata.status).toBe(503);
    expect(agntdata.json).toMatchObject({ success: false, error: { code: 'SERVICE_UNAVAILABLE' } });
    expect((await xGet(sandbox, timeline())).status).toBe(200);
  });

  it('hangs past the client’s timeout', async () => {
    sandbox.faults.add('hang*1');
    const hangsBefore = sandbox.requests().filter((entry) => entry.fault === 'hang').length;
    const controller = new AbortController();
    let settled = false;
    const pending = fetch(`${sandbox.url}${timeline()}`, {
      headers: { authorization: `Bearer ${X_TOKEN}` },
      signal: controller.signal,
    }).finally(() => {
      settled = true;
    });
    // Abort only once the sandbox has taken the request (a timer started before the request
    // arrives could fire first on a loaded machine and leave the fault for the next request).
    const deadline = Date.now() + 10_000;
    while (sandbox.requests().filter((entry) => entry.fault === 'hang').length === hangsBefore) {
      if (Date.now() > deadline) throw new Error('the sandbox never took the hanging request');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(settled).toBe(false);
    controller.abort();
    await expect(pending).rejects.toThrow(/abort/i);
    expect((await xGet(sandbox, timeline())).status).toBe(200);
  });

  it('resets the connection', async () => {
    sandbox.faults.add('reset*1');
    await expect(
      fetch(`${sandbox.url}${timeline()}`, { headers: { authorization: `Bearer ${X_TOKEN}` } }),
    ).rejects.toThrow(/fetch failed/);
  });

  it('sends malformed, truncated and empty 200 bodies', async () => {
    const good = await xGet(sandbox, timeline());
    sandbox.faults.add('malformed*1,truncated*1,empty*1');
    const malformed = await xGet(sandbox, timeline());
    const truncated = await xGet(sandbox, timeline());
    const empty = await xGet(sandbox, timeline());
    for (const page of [malformed, truncated, empty]) {
      expect(page.status).toBe(200);
      expect(() => JSON.parse(page.text)).toThrow(SyntaxError);
    }
    expect(truncated.text).toBe(good.text.slice(0, truncated.text.length));
    expect(truncated.text.length).toBeLessThan(good.text.length);
    expect(empty.text).toBe('');
  });

  it('sends bursts of 429 with the real body although the budget is not spent', async () => {
    sandbox.faults.add('429*2@x');
    for (let i = 0; i < 2; i++) {
      const page = await xGet(sandbox, timeline());
      expect(page.status).toBe(429);
      expect(page.text).toBe('Rate limit exceeded\n');
      expect(page.headers.get('x-rate-limit-remaining')).toBe('0');
    }
    expect((await xGet(sandbox, timeline())).status).toBe(200);
    sandbox.faults.add('429*1@agntdata');
    const agntdata = await agntdataPost(sandbox, '/user/medias', { user_id: Number(id) });
    expect(agntdata.status).toBe(429);
    expect(Number(agntdata.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });

  it('counts faults per credential, endpoint and kind', () => {
    const faults = sandbox.stats().faults;
    expect(faults.by_credential['x-1']?.['GET /2/users/:id/tweets']).toMatchObject({
      '500': 1,
      hang: 1,
      reset: 1,
      malformed: 1,
      truncated: 1,
      empty: 1,
      '429': 2,
    });
    expect(faults.by_credential['agntdata-1']?.['POST /user/medias']).toEqual({
      '503': 1,
      '429': 1,
    });
    const log = sandbox
      .requests()
      .filter((entry) => entry.fault !== null)
      .map((entry) => entry.fault);
    expect(log).toContain('hang');
  });

  it('draws rate faults deterministically from the seed', async () => {
    const statuses = async (seed: string) => {
      const other = await startSandbox({
        seed,
        accounts: 1,
        epochMs: EPOCH,
        frozen: true,
        tweetsPerAccount: 5,
        faults: '500:0.3,503:0.2',
      });
      const account = other.accounts()[0]!.id;
      const out: number[] = [];
      for (let i = 0; i < 30; i++)
        out.push((await xGet(other, `/2/users/${account}/tweets`)).status);
      await other.stop();
      return out;
    };
    const first = await statuses('same');
    expect(await statuses('same')).toEqual(first);
    expect(new Set(first)).toEqual(new Set([200, 500, 503]));
    expect(await statuses('different')).not.toEqual(first);
  });

  it('takes faults over HTTP and rejects a bad spec', async () => {
    const added = await control(sandbox, 'faults', {
      spec: 'empty*1@agntdata',
      rules: [{ kind: '503', count: 1, provider: 'x' }],
    });
    expect(added.status).toBe(200);
    expect(added.json.rules).toHaveLength(2);
    expect((await xGet(sandbox, timeline())).status).toBe(503);
    const empty = await agntdataPost(sandbox, '/user/medias', { user_id: Number(id) });
    expect(empty.text).toBe('');
    const bad = await control(sandbox, 'faults', { spec: 'explode:0.5' });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toContain('unknown kind "explode"');
    expect((await control(sandbox, 'faults', { clear: true })).json.rules).toEqual([]);
  });

  it('parses the SPEC syntax', () => {
    expect(parseFaultSpec('500:0.05, hang:0.01@agntdata,429*3')).toEqual([
      { kind: '500', provider: undefined, rate: 0.05 },
      { kind: 'hang', provider: 'agntdata', rate: 0.01 },
      { kind: '429', provider: undefined, count: 3 },
    ]);
    expect(() => parseFaultSpec('500:1.5')).toThrow(/between 0 and 1/);
    expect(() => parseFaultSpec('500')).toThrow(/KIND:RATE or KIND\*N/);
  });
});
