import {
  accountProblem,
  agntdataErrorBodySchema,
  agntdataValidationErrorSchema,
  normalizeRaw,
  parseAgntdataMedias,
  parseXTimeline,
  parseXUserLookup,
  xErrorBodySchema,
} from '@birdfeed/providers';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { type RunningSandbox, startSandbox } from '../src/index.ts';
import {
  agntdataPost,
  FULL_X_QUERY,
  paginateAgntdata,
  paginateX,
  type Reply,
  X_TOKEN,
  xGet,
} from './helpers.ts';

/**
 * Every body the sandbox sends passes the providers package's zod schemas, and what the
 * normalizers make of it matches the sandbox's truth.
 */
const EPOCH = Date.UTC(2026, 0, 15, 12);
let bare: RunningSandbox;
let enveloped: RunningSandbox;

beforeAll(async () => {
  const options = {
    seed: 'schemas',
    accounts: 20,
    epochMs: EPOCH,
    frozen: true,
    shortPageRate: 0.1,
    emptyPageRate: 0.05,
    tweetsPerAccount: (index: number) => (index === 2 ? 0 : 150 + index * 10),
  };
  [bare, enveloped] = await Promise.all([
    startSandbox(options),
    startSandbox({ ...options, agntdataEnveloped: true, agntdataCreditsCents: 1_000 }),
  ]);
});
afterAll(() => Promise.all([bare.stop(), enveloped.stop()]));

const observedAt = new Date(EPOCH);

describe('X bodies', () => {
  it('timeline pages (all fields, default fields, empty, short) parse and normalize to the truth', async () => {
    for (const account of bare.accounts({ status: 'active' }).slice(0, 5)) {
      const full = await paginateX(bare, account.id, FULL_X_QUERY);
      const plain = await paginateX(bare, account.id, { max_results: 37 });
      const seen: string[] = [];
      for (const page of [...full.pages, ...plain.pages]) {
        expect(() => parseXTimeline(page.text)).not.toThrow();
      }
      for (const page of full.pages) {
        const canonical = normalizeRaw('x', page.text, { userId: account.id, observedAt });
        seen.push(
          ...canonical.tweets.filter((tweet) => tweet.fromTimeline).map((tweet) => tweet.id),
        );
        expect(canonical.cursor.next).toBe(page.json.meta.next_token ?? null);
      }
      const truth = bare.truth(account.id);
      expect(seen).toEqual(truth.tweets.map((tweet) => tweet.id));
      const keys = new Set(
        full.pages.flatMap((page) =>
          normalizeRaw('x', page.text, { userId: account.id, observedAt }).tweetMedia.map(
            (link) => link.mediaKey,
          ),
        ),
      );
      expect(keys).toEqual(
        new Set(truth.tweets.flatMap((tweet) => tweet.media.map((media) => media.media_key))),
      );
    }
  });

  it('user lookups parse', async () => {
    const account = bare.accounts()[0]!;
    const byId = await xGet(bare, `/2/users/${account.id}`, {
      'user.fields': FULL_X_QUERY['user.fields'],
    });
    const byName = await xGet(bare, `/2/users/by/username/${account.username}`);
    for (const page of [byId, byName]) expect(() => parseXUserLookup(page.text)).not.toThrow();
    const canonical = normalizeRaw('x', byId.text, { userId: account.id, observedAt });
    expect(canonical.users[0]?.id).toBe(account.id);
  });

  it('unavailable accounts parse and read as the right reason', async () => {
    for (const status of ['protected', 'suspended', 'deleted'] as const) {
      const id = bare.accounts({ status })[0]!.id;
      const page = await xGet(bare, `/2/users/${id}/tweets`, FULL_X_QUERY);
      const body = parseXTimeline(page.text);
      const reason = status === 'deleted' ? 'not_found' : status;
      expect(accountProblem(body.errors ?? [], id)?.reason).toBe(reason);
    }
  });

  it("error bodies (401, 400s, 5xx) match the X error schema; the 429 is X's plain text", async () => {
    const id = bare.accounts()[0]!.id;
    const errors: Reply[] = [
      await xGet(bare, `/2/users/${id}/tweets`, {}, null),
      await xGet(bare, `/2/users/${id}/tweets`, { max_results: 500 }),
      await xGet(bare, `/2/users/${id}/tweets`, { pagination_token: 'nope' }),
      await xGet(bare, `/2/users/${id}/tweets`, { 'media.fields': 'faces' }),
    ];
    bare.faults.add('429*1@x,500*1@x,503*1@x');
    for (let i = 0; i < 3; i++) errors.push(await xGet(bare, `/2/users/${id}/tweets`, {}, X_TOKEN));
    expect(errors.map((page) => page.status)).toEqual([401, 400, 400, 400, 429, 500, 503]);
    for (const page of errors) {
      if (page.status === 429) {
        // As recorded (Postman's 429 example); the postman fixture test checks the same text.
        expect(page.text).toBe('Rate limit exceeded\n');
        continue;
      }
      expect(xErrorBodySchema.safeParse(page.json).success, page.text).toBe(true);
    }
  });
});

describe('agntdata bodies', () => {
  it('bare and enveloped pages parse and normalize to the truth, faces and focus rects included', async () => {
    for (const sandbox of [bare, enveloped]) {
      for (const account of sandbox.accounts({ status: 'active' }).slice(0, 4)) {
        const { pages } = await paginateAgntdata(sandbox, account.id, 25);
        const truth = sandbox.truth(account.id);
        const truthMedia = new Map(
          truth.tweets.flatMap((tweet) => tweet.media).map((media) => [media.media_key, media]),
        );
        const seen: string[] = [];
        for (const page of pages) {
          const parsed = parseAgntdataMedias(page.text);
          expect(parsed.enveloped).toBe(sandbox === enveloped);
          const canonical = normalizeRaw('agntdata', page.text, { userId: account.id, observedAt });
          seen.push(
            ...canonical.tweets.filter((tweet) => tweet.fromTimeline).map((tweet) => tweet.id),
          );
          for (const media of canonical.media) {
            const known = truthMedia.get(media.mediaKey);
            expect(known, media.mediaKey).toBeDefined();
            expect(media.focusRects).toEqual(known!.focus_rects);
            if (known!.type === 'photo') {
              for (const size of ['orig', 'large', 'medium', 'small'] as const) {
                expect(media.faces?.[size]).toEqual(known!.faces[size]);
              }
            }
          }
        }
        expect(seen).toEqual(
          truth.tweets.filter((tweet) => tweet.media.length > 0).map((tweet) => tweet.id),
        );
      }
    }
  });

  it("an account's user fields read the same through both providers (verified, verified_type)", async () => {
    const own = await startSandbox({
      seed: 'verified',
      accounts: 30,
      epochMs: EPOCH,
      frozen: true,
      tweetsPerAccount: 40,
      xRateLimit: 1_000_000,
      agntdataRequestsPerMinute: 1_000_000,
    });
    onTestFinished(() => own.stop());
    const types = new Set<string>();
    let compared = 0;
    for (const account of own.accounts({ status: 'active' })) {
      const x = await paginateX(own, account.id, FULL_X_QUERY);
      const agntdata = await paginateAgntdata(own, account.id, 25);
      const pages = [
        ...x.pages.map((page) => normalizeRaw('x', page.text, { userId: account.id, observedAt })),
        ...agntdata.pages.map((page) =>
          normalizeRaw('agntdata', page.text, { userId: account.id, observedAt }),
        ),
      ];
      const seen = pages
        .flatMap((page) => page.users)
        .filter((user) => user.id === account.id)
        .map((user) => ({ verified: user.verified, verifiedType: user.verifiedType ?? 'none' }));
      if (x.pages.length === 0 || agntdata.pages.length === 0 || seen.length < 2) continue;
      compared += 1;
      for (const fields of seen) expect(fields, account.id).toEqual(seen[0]);
      types.add(seen[0]!.verifiedType);
    }
    expect(compared).toBeGreaterThan(10);
    // The sandbox's accounts hold at least a checkmark kind besides none.
    expect(types.size).toBeGreaterThan(1);
  });

  it('error bodies match the agntdata error schemas', async () => {
    const id = bare.accounts()[0]!.id;
    const service: Reply[] = [
      await agntdataPost(bare, '/user/medias', { user_id: Number(id) }, null),
      await agntdataPost(bare, '/user/medias/continuation', {
        user_id: Number(id),
        continuation_token: 'DAABnope',
      }),
      await agntdataPost(bare, '/user/medias', {
        user_id: Number(bare.accounts({ status: 'suspended' })[0]!.id),
      }),
      await agntdataPost(bare, '/user/medias', { user_id: 42 }),
    ];
    bare.faults.add('429*1@agntdata,500*1@agntdata,503*1@agntdata');
    for (let i = 0; i < 3; i++)
      service.push(await agntdataPost(bare, '/user/medias', { user_id: Number(id) }));
    expect(service.map((page) => page.status)).toEqual([401, 400, 403, 404, 429, 500, 503]);
    for (const page of service)
      expect(agntdataErrorBodySchema.safeParse(page.json).success, page.text).toBe(true);
    const validation = await agntdataPost(bare, '/user/medias', '{"user_id": "x"}');
    expect(validation.status).toBe(422);
    expect(agntdataValidationErrorSchema.safeParse(validation.json).success).toBe(true);
  });
});
