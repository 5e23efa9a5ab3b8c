import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSandbox, startSandbox } from '../src/index.ts';
import { AGNTDATA_KEY, agntdataPost, paginateAgntdata, xGet } from './helpers.ts';

const EPOCH = Date.UTC(2026, 0, 15, 12);
let bare: RunningSandbox;
let enveloped: RunningSandbox;

beforeAll(async () => {
  const options = {
    seed: 'agntdata',
    accounts: 20,
    epochMs: EPOCH,
    frozen: true,
    tweetsPerAccount: 120,
  };
  [bare, enveloped] = await Promise.all([
    startSandbox(options),
    startSandbox({ ...options, agntdataEnveloped: true }),
  ]);
});
afterAll(() => Promise.all([bare.stop(), enveloped.stop()]));

/** An account whose id is above 2^53: a JS number cannot hold it exactly. */
function bigAccount(sandbox: RunningSandbox) {
  const account = sandbox
    .accounts({ status: 'active' })
    .find((item) => BigInt(item.id) > 2n ** 53n);
  if (account === undefined) throw new Error('no account above 2^53');
  return account;
}

function mediaTruth(sandbox: RunningSandbox, userId: string): string[] {
  return sandbox
    .truth(userId)
    .tweets.filter((tweet) => tweet.media.length > 0)
    .map((tweet) => tweet.id);
}

describe('POST /user/medias', () => {
  it('reads a user_id above 2^53 from the JSON integer exactly', async () => {
    const account = bigAccount(bare);
    // The literal rounds to a different double: a parser that goes through a JS number misses.
    expect(String(Number(account.id))).not.toBe(account.id);
    const page = await agntdataPost(bare, '/user/medias', `{"user_id": ${account.id}, "limit": 5}`);
    expect(page.status).toBe(200);
    expect(page.json.results).toHaveLength(5);
    for (const result of page.json.results) expect(result.user.user_id).toBe(account.id);
    const logged = bare.requests().at(-1);
    expect(logged?.params.user_id).toBe(account.id);
  });

  it('pages through exactly the media tweets of the truth, newest first', async () => {
    const account = bigAccount(bare);
    const truth = mediaTruth(bare, account.id);
    expect(truth.length).toBeGreaterThan(20);
    const { ids, pages } = await paginateAgntdata(bare, account.id, 20);
    expect(ids).toEqual(truth);
    expect(pages.at(-1)?.json.continuation_token).toBeNull();
    const tweet = pages[0]!.json.results[0];
    expect(tweet.creation_date).toMatch(
      /^[A-Z][a-z]{2} [A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2} \+0000 \d{4}$/,
    );
    expect(tweet.extended_entities.media.length).toBeGreaterThan(0);
  });

  it('carries faces in four sizes and focus rects equal to the truth', async () => {
    const account = bare.accounts({ status: 'active' })[0]!;
    const truth = new Map(
      bare
        .truth(account.id)
        .tweets.flatMap((tweet) => tweet.media)
        .map((media) => [media.media_key, media]),
    );
    const { pages } = await paginateAgntdata(bare, account.id, 50);
    let photosWithFaces = 0;
    for (const page of pages) {
      for (const result of page.json.results) {
        for (const media of result.extended_entities.media) {
          const known = truth.get(media.media_key);
          expect(known).toBeDefined();
          expect(media.original_info.focus_rects).toEqual(known?.focus_rects);
          if (media.type !== 'photo') continue;
          for (const size of ['orig', 'large', 'medium', 'small'] as const) {
            expect(media.features[size].faces).toEqual(known?.faces[size]);
          }
          expect(media.original_info.focus_rects).toHaveLength(5);
          if (known!.faces.orig.length > 0) {
            photosWithFaces += 1;
            // Scaled consistently: a face in `small` is the orig face times small/orig width.
            const scale = media.sizes.small.w / media.original_info.width;
            expect(media.features.small.faces[0].w).toBe(
              Math.floor(known!.faces.orig[0]!.w * scale),
            );
          }
        }
      }
    }
    expect(photosWithFaces).toBeGreaterThan(0);
  });

  it('answers the GET forms with query parameters the same way', async () => {
    const account = bare.accounts({ status: 'active' })[2]!;
    const headers = { authorization: `Bearer ${AGNTDATA_KEY}` };
    const first = await fetch(`${bare.url}/user/medias?user_id=${account.id}&limit=3`, { headers });
    const firstBody = (await first.json()) as {
      results: { tweet_id: string }[];
      continuation_token: string;
    };
    expect(first.status).toBe(200);
    const post = await agntdataPost(bare, '/user/medias', {
      user_id: Number(account.id),
      limit: 3,
    });
    expect(firstBody.results.map((item: { tweet_id: string }) => item.tweet_id)).toEqual(
      post.json.results.map((item: { tweet_id: string }) => item.tweet_id),
    );
    const next = await fetch(
      `${bare.url}/user/medias/continuation?user_id=${account.id}&limit=3&continuation_token=${encodeURIComponent(firstBody.continuation_token)}`,
      { headers },
    );
    const nextBody = (await next.json()) as { results: { tweet_id: string }[] };
    expect(nextBody.results.map((item: { tweet_id: string }) => item.tweet_id)).toEqual(
      mediaTruth(bare, account.id).slice(3, 6),
    );
  });

  it('wraps the body in the envelope when asked, with the cost', async () => {
    const account = bigAccount(enveloped);
    const page = await agntdataPost(
      enveloped,
      '/user/medias',
      `{"user_id": ${account.id}, "limit": 4}`,
    );
    expect(page.status).toBe(200);
    expect(page.json).toMatchObject({ success: true, meta: { costCents: 1 } });
    expect(page.json.data.results).toHaveLength(4);
    const { ids } = await paginateAgntdata(enveloped, account.id, 30);
    expect(ids).toEqual(mediaTruth(enveloped, account.id));
  });

  it('rejects a bad body with the 422 validation shape', async () => {
    const cases: [string, unknown][] = [
      [
        '{"limit": 5}',
        [{ loc: ['body', 'user_id'], msg: 'field required', type: 'value_error.missing' }],
      ],
      [
        '{"user_id": "abc"}',
        [
          {
            loc: ['body', 'user_id'],
            msg: 'value is not a valid integer',
            type: 'type_error.integer',
          },
        ],
      ],
      [
        '{"user_id": 1.5}',
        [
          {
            loc: ['body', 'user_id'],
            msg: 'value is not a valid integer',
            type: 'type_error.integer',
          },
        ],
      ],
      [
        '{"user_id": 12, "limit": 0}',
        [expect.objectContaining({ loc: ['body', 'limit'], type: 'value_error.number.not_ge' })],
      ],
      ['not json', [expect.objectContaining({ type: 'value_error.jsondecode' })]],
      ['[1]', [expect.objectContaining({ type: 'type_error.dict' })]],
    ];
    for (const [body, detail] of cases) {
      const page = await agntdataPost(bare, '/user/medias', body);
      expect(page.status, body).toBe(422);
      expect(page.json, body).toEqual({ detail });
    }
    const missingToken = await agntdataPost(bare, '/user/medias/continuation', {
      user_id: 12,
      limit: 5,
    });
    expect(missingToken.status).toBe(422);
    expect(missingToken.json.detail[0].loc).toEqual(['body', 'continuation_token']);
  });

  it('expires continuation tokens and refuses foreign ones', async () => {
    const [one, two] = bare.accounts({ status: 'active' });
    const first = await agntdataPost(bare, '/user/medias', { user_id: Number(one!.id), limit: 2 });
    const token = first.json.continuation_token as string;
    const foreign = await agntdataPost(bare, '/user/medias/continuation', {
      user_id: two!.id,
      limit: 2,
      continuation_token: token,
    });
    expect(foreign.status).toBe(400);
    expect(foreign.json).toEqual({
      success: false,
      error: { code: 'INVALID_CONTINUATION_TOKEN', message: expect.any(String) },
    });
    bare.clock.advance(bare.options.cursorTtlMs + 1);
    const expired = await agntdataPost(bare, '/user/medias/continuation', {
      user_id: one!.id,
      limit: 2,
      continuation_token: token,
    });
    expect(expired.status).toBe(400);
    expect(expired.json.error.code).toBe('INVALID_CONTINUATION_TOKEN');
  });

  it('reports the same metrics as X for the same tweet at the same time', async () => {
    const account = bare.accounts({ status: 'active' })[1]!;
    bare.clock.advance(6 * 3_600_000);
    const x = await xGet(bare, `/2/users/${account.id}/tweets`, {
      max_results: 100,
      'tweet.fields': 'public_metrics',
    });
    const byId = new Map<string, Record<string, number>>(
      x.json.data.map((tweet: { id: string; public_metrics: Record<string, number> }) => [
        tweet.id,
        tweet.public_metrics,
      ]),
    );
    const page = await agntdataPost(
      bare,
      '/user/medias',
      `{"user_id": ${account.id}, "limit": 50}`,
    );
    expect(page.status, page.text).toBe(200);
    let compared = 0;
    for (const result of page.json.results) {
      const metrics = byId.get(result.tweet_id);
      if (metrics === undefined) continue;
      compared += 1;
      expect({
        like_count: result.favorite_count,
        retweet_count: result.retweet_count,
        reply_count: result.reply_count,
        quote_count: result.quote_count,
        bookmark_count: result.bookmark_count,
        impression_count: result.views,
      }).toEqual(metrics);
    }
    expect(compared).toBeGreaterThan(5);
  });

  it('answers unavailable accounts with an error', async () => {
    for (const [status, code, http] of [
      ['protected', 'USER_PROTECTED', 403],
      ['suspended', 'USER_SUSPENDED', 403],
      ['deleted', 'USER_NOT_FOUND', 404],
    ] as const) {
      const account = bare.accounts({ status })[0]!;
      const page = await agntdataPost(bare, '/user/medias', `{"user_id": ${account.id}}`);
      expect(page.status).toBe(http);
      expect(page.json).toMatchObject({ success: false, error: { code } });
    }
  });
});
