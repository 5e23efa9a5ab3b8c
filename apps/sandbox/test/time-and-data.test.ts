import { afterEach, describe, expect, it } from 'vitest';
import { type RunningSandbox, startSandbox } from '../src/index.ts';
import { describeSandbox, parseSandboxArgs } from '../src/main.ts';
import { TWITTER_EPOCH_MS } from '../src/snowflake.ts';
import { control, FULL_X_QUERY, paginateX, xGet } from './helpers.ts';

const EPOCH = Date.UTC(2026, 0, 15, 12);
const running: RunningSandbox[] = [];
async function sandboxWith(options: Parameters<typeof startSandbox>[0]) {
  const sandbox = await startSandbox({
    epochMs: EPOCH,
    shortPageRate: 0,
    emptyPageRate: 0,
    ...options,
  });
  running.push(sandbox);
  return sandbox;
}
afterEach(async () => {
  await Promise.all(running.splice(0).map((sandbox) => sandbox.stop()));
});

describe('time', () => {
  it('adds new tweets as the clock moves and an incremental since_id gets exactly them', async () => {
    const sandbox = await sandboxWith({
      seed: 'time',
      accounts: 4,
      frozen: true,
      tweetsPerAccount: 20,
      activity: (i) => (i === 0 ? 'steady' : i === 1 ? 'bursty' : 'silent'),
    });
    const [steady, bursty, silent] = sandbox.accounts();
    const before = sandbox.truth(steady!.id).tweets.map((tweet) => tweet.id);
    const silentBefore = sandbox.truth(silent!.id).tweets.length;
    await control(sandbox, 'clock', { advance: '1d' });
    const after = sandbox.truth(steady!.id).tweets.map((tweet) => tweet.id);
    expect(after.length).toBeGreaterThan(before.length);
    expect(after.slice(after.length - before.length)).toEqual(before);
    expect(sandbox.truth(bursty!.id).tweets.length).toBeGreaterThan(20);
    expect(sandbox.truth(silent!.id).tweets.length).toBe(silentBefore);
    const incremental = await paginateX(sandbox, steady!.id, { since_id: before[0] });
    expect(incremental.ids).toEqual(after.slice(0, after.length - before.length));
  });

  it('grows metrics with time and keeps them still while frozen', async () => {
    const sandbox = await sandboxWith({
      seed: 'metrics',
      accounts: 1,
      frozen: true,
      tweetsPerAccount: 30,
      activity: 'silent',
    });
    const id = sandbox.accounts()[0]!.id;
    const query = {
      max_results: 10,
      'tweet.fields': 'public_metrics',
      expansions: 'author_id',
      'user.fields': 'public_metrics',
    };
    const first = await xGet(sandbox, `/2/users/${id}/tweets`, query);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const again = await xGet(sandbox, `/2/users/${id}/tweets`, query);
    expect(again.text).toBe(first.text);
    sandbox.clock.advance(3 * 86_400_000);
    const later = await xGet(sandbox, `/2/users/${id}/tweets`, query);
    let grew = 0;
    first.json.data.forEach((tweet: { public_metrics: Record<string, number> }, i: number) => {
      const next = later.json.data[i].public_metrics;
      for (const [name, value] of Object.entries(tweet.public_metrics)) {
        expect(next[name]).toBeGreaterThanOrEqual(value);
        if (next[name] > value) grew += 1;
      }
    });
    expect(grew).toBeGreaterThan(0);
    expect(later.json.includes.users[0].public_metrics.followers_count).toBeGreaterThan(
      first.json.includes.users[0].public_metrics.followers_count,
    );
  });

  it('runs the clock at the time scale and obeys POST /_sandbox/clock', async () => {
    const sandbox = await sandboxWith({ seed: 'scale', accounts: 1, timeScale: 3_600 });
    const start = sandbox.clock.now();
    await new Promise((resolve) => setTimeout(resolve, 300));
    // 300 ms at x3600 is 18 sandbox minutes: a 15-minute rate-limit window has passed.
    expect(sandbox.clock.now() - start).toBeGreaterThanOrEqual(15 * 60_000);
    const frozen = await control(sandbox, 'clock', { frozen: true });
    expect(frozen.json.frozen).toBe(true);
    const stopped = sandbox.clock.now();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(sandbox.clock.now()).toBe(stopped);
    const advanced = await control(sandbox, 'clock', { advanceMs: 1_000 });
    expect(advanced.json.now_ms).toBe(stopped + 1_000);
    expect((await control(sandbox, 'clock', { advance: 'soon' })).status).toBe(400);
  });

  it('refuses a clock or faults body with a wrong type or an unknown field, and applies none of it', async () => {
    const sandbox = await sandboxWith({ seed: 'strict', accounts: 1, frozen: true });
    const before = (await control(sandbox, 'clock')).json;
    const refusals: [string, unknown, RegExp][] = [
      ['clock', { frozen: 'false' }, /frozen/],
      ['clock', { timeScale: 7, advance: 'bogus' }, /duration "bogus"/],
      ['clock', { tmeScale: 5 }, /unknown field "tmeScale"/],
      ['clock', { timeScale: -1 }, /timeScale/],
      // Past what a snowflake (or a Date) holds: applied, it failed every later request.
      ['clock', { advance: '999999999d' }, /sandbox time must stay between .* got/],
      ['clock', { advance: 1e308 }, /sandbox time must stay between/],
      [
        'clock',
        { timeScale: 1e300, frozen: false },
        /time scale must be above 0 and at most 100000/,
      ],
      ['faults', { spec: 5 }, /spec/],
      ['faults', { clera: true }, /unknown field "clera"/],
      ['faults', { clear: true, spec: 'explode:0.5' }, /explode/],
    ];
    expect((await control(sandbox, 'faults', { spec: 'empty*1@agntdata' })).status).toBe(200);
    const rules = (await control(sandbox, 'faults')).json.rules;
    expect(rules).toHaveLength(1);
    for (const [what, body, message] of refusals) {
      const refused = await control(sandbox, what, body);
      expect(refused.status, JSON.stringify(body)).toBe(400);
      expect(refused.json.error).toMatch(message);
    }
    expect((await control(sandbox, 'clock')).json).toEqual(before);
    expect((await control(sandbox, 'faults')).json.rules).toEqual(rules);
    expect((await control(sandbox, 'requests?limit=ten')).json.error).toMatch(/limit/);
  });

  it('answers a path that is not valid percent-encoding and keeps serving', async () => {
    const sandbox = await sandboxWith({ seed: 'uri', accounts: 1, frozen: true });
    const timeline = await xGet(sandbox, '/2/users/%E0/tweets', {});
    expect(timeline.status).toBe(400);
    expect((await xGet(sandbox, '/2/users/by/username/%E0', {})).status).toBeLessThan(500);
    expect((await control(sandbox, 'truth/%E0')).status).toBe(404);
    const id = sandbox.accounts()[0]!.id;
    expect((await xGet(sandbox, `/2/users/${id}/tweets`, FULL_X_QUERY)).status).toBe(200);
  });
});

describe('data', () => {
  it('makes snowflake ids whose timestamp is the creation time', async () => {
    const sandbox = await sandboxWith({ seed: 'ids', accounts: 6, frozen: true });
    for (const account of sandbox.accounts({ status: 'active' }).slice(0, 3)) {
      const { pages } = await paginateX(sandbox, account.id, { 'tweet.fields': 'created_at' });
      for (const tweet of pages.flatMap((page) => page.json.data ?? [])) {
        const ms = Number((BigInt(tweet.id) >> 22n) + BigInt(TWITTER_EPOCH_MS));
        expect(tweet.created_at).toBe(new Date(Math.floor(ms / 1000) * 1000).toISOString());
      }
    }
    const ids = sandbox.accounts().map((account) => BigInt(account.id));
    expect(ids.some((value) => value > 2n ** 53n)).toBe(true);
    expect(ids.some((value) => value < 2n ** 32n)).toBe(true);
  });

  it('is the same for the same seed and epoch, and differs for another seed', async () => {
    const [a, b, c] = await Promise.all([
      sandboxWith({ seed: 'same', accounts: 5, frozen: true }),
      sandboxWith({ seed: 'same', accounts: 5, frozen: true }),
      sandboxWith({ seed: 'other', accounts: 5, frozen: true }),
    ]);
    const id = a.accounts()[0]!.id;
    expect(b.accounts()[0]!.id).toBe(id);
    const pageA = await xGet(a, `/2/users/${id}/tweets`, { ...FULL_X_QUERY, max_results: 100 });
    const pageB = await xGet(b, `/2/users/${id}/tweets`, { ...FULL_X_QUERY, max_results: 100 });
    expect(pageA.text).toBe(pageB.text);
    expect(a.truth(id)).toEqual(b.truth(id));
    expect(c.accounts()[0]!.id).not.toBe(id);
  });

  it('starts 10,000 accounts at once (timelines are made lazily)', async () => {
    const started = performance.now();
    const sandbox = await sandboxWith({ seed: 'many', accounts: 10_000, frozen: true });
    // Well under a second on an idle machine; the bound leaves room for a loaded one.
    expect(performance.now() - started).toBeLessThan(5_000);
    const last = sandbox.accounts().at(-1)!;
    const page = await xGet(sandbox, `/2/users/${last.id}/tweets`);
    expect(page.status).toBe(200);
    expect(new Set(sandbox.accounts().map((account) => account.id)).size).toBe(10_000);
  });

  it('serves short and empty pages with a next_token and still reaches every tweet', async () => {
    const sandbox = await sandboxWith({
      seed: 'short',
      accounts: 1,
      frozen: true,
      tweetsPerAccount: 400,
      shortPageRate: 0.4,
      emptyPageRate: 0.2,
    });
    const id = sandbox.accounts()[0]!.id;
    const { ids, pages } = await paginateX(sandbox, id, { max_results: 50 });
    expect(ids).toEqual(sandbox.truth(id).tweets.map((tweet) => tweet.id));
    const counts = pages.map((page) => page.json.meta.result_count as number);
    expect(counts.slice(0, -1).some((count) => count === 0)).toBe(true);
    expect(counts.slice(0, -1).some((count) => count > 0 && count < 50)).toBe(true);
    const emptyPage = pages.find((page) => page.json.meta.result_count === 0);
    expect(emptyPage?.json.data).toBeUndefined();
    expect(emptyPage?.json.meta).toMatchObject({ result_count: 0, next_token: expect.any(String) });
  });
});

describe('CLI', () => {
  it('parses flags into options and rejects bad ones', () => {
    expect(
      parseSandboxArgs([
        '--port',
        '0',
        '--accounts',
        '3',
        '--frozen',
        '--faults',
        '500:0.1',
        '--x-token',
        'a',
        '--x-token',
        'b',
        '--time-scale',
        '60',
        '--cursor-ttl',
        '10m',
      ]),
    ).toEqual({
      port: 0,
      host: '127.0.0.1',
      accounts: 3,
      frozen: true,
      faults: '500:0.1',
      xBearerTokens: ['a', 'b'],
      timeScale: 60,
      cursorTtlMs: 600_000,
    });
    expect(parseSandboxArgs([], { SANDBOX_PORT: '4999', SANDBOX_SEED: 'env' })).toMatchObject({
      port: 4999,
      seed: 'env',
    });
    expect(() => parseSandboxArgs(['--accounts', 'many'])).toThrow(/--accounts/);
    expect(() => parseSandboxArgs(['--faults', 'boom:1'])).toThrow(/unknown kind/);
    expect(() => parseSandboxArgs(['--bogus'])).toThrow();
    for (const [args, message] of [
      [['--accounts', '3', '--accounts', '5'], /--accounts given twice/],
      [['--port', '0x1000'], /--port: expected a number in plain digits/],
      [['--time-scale', '1e300'], /--time-scale: expected a number in plain digits/],
      [['--epoch', '12'], /--epoch "12": must be an ISO-8601 timestamp/],
      [['--epoch', '2026-02-30T00:00:00Z'], /--epoch "2026-02-30T00:00:00Z"/],
    ] as const) {
      expect(() => parseSandboxArgs([...args]), args.join(' ')).toThrow(message);
    }
    // Empty means unset, as for every birdfeed variable: not port 0, not 0 accounts.
    expect(parseSandboxArgs([], { SANDBOX_PORT: '', SANDBOX_ACCOUNTS: ' ' })).toMatchObject({
      port: 4010,
    });
    expect(parseSandboxArgs([], { SANDBOX_ACCOUNTS: ' ' })).not.toHaveProperty('accounts');
    expect(() => parseSandboxArgs([], { SANDBOX_PORT: '0x10' })).toThrow(/SANDBOX_PORT/);
  });

  it('refuses to start with a clock no snowflake id can hold, or more accounts than it can make', async () => {
    await expect(startSandbox({ epochMs: Date.UTC(2090, 0, 1) })).rejects.toThrow(
      /sandbox time must stay between 2010-11-04T01:42:54\.657Z and 2080-/,
    );
    await expect(startSandbox({ timeScale: 200_000 })).rejects.toThrow(/at most 100000/);
    await expect(startSandbox({ accounts: 100_000_000 })).rejects.toThrow(/from 0 to 100000/);
  });

  it('prints the URL, the credentials and account ids, but never custom tokens', async () => {
    const plain = await sandboxWith({ seed: 'cli', accounts: 20, frozen: true });
    const text = describeSandbox(plain);
    expect(text).toContain(plain.url);
    expect(text).toContain('X_BEARER_TOKEN=sandbox-x-token');
    expect(text).toContain(plain.accounts()[0]!.id);
    const custom = await sandboxWith({
      seed: 'cli',
      accounts: 2,
      frozen: true,
      xBearerTokens: ['s3cret-token'],
    });
    expect(describeSandbox(custom)).not.toContain('s3cret-token');
    // Its curl lines still work when copied: the header reads the variable in the shell.
    expect(describeSandbox(custom)).toContain(`curl -H "Authorization: Bearer $X_BEARER_TOKEN"`);
    expect(describeSandbox(custom)).toContain(
      `curl -H 'Authorization: Bearer sandbox-agntdata-key'`,
    );
  });
});
