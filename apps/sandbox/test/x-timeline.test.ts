import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSandbox, startSandbox } from '../src/index.ts';
import { FULL_X_QUERY, paginateX, xGet } from './helpers.ts';

const EPOCH = Date.UTC(2026, 0, 15, 12);
let sandbox: RunningSandbox;
let normal: string;
let deep: string;
let empty: string;

beforeAll(async () => {
  sandbox = await startSandbox({
    seed: 'x-timeline',
    accounts: 20,
    epochMs: EPOCH,
    frozen: true,
    shortPageRate: 0,
    emptyPageRate: 0,
    tweetsPerAccount: (index) => (index === 1 ? 3_300 : index === 2 ? 0 : index === 0 ? 250 : 30),
  });
  const accounts = sandbox.accounts();
  normal = accounts[0]!.id;
  deep = accounts[1]!.id;
  empty = accounts[2]!.id;
});
afterAll(() => sandbox.stop());

describe('GET /2/users/:id/tweets', () => {
  it('pages newest first through exactly the truth', async () => {
    const truth = sandbox.truth(normal).tweets.map((tweet) => tweet.id);
    expect(truth).toHaveLength(250);
    const { ids, pages } = await paginateX(sandbox, normal, { max_results: 100 });
    expect(ids).toEqual(truth);
    expect(pages).toHaveLength(3);
    const ascending = [...ids].map(BigInt).sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
    expect(ids).toEqual(ascending.map(String));
    const meta = pages[0]!.json.meta;
    expect(meta).toMatchObject({ result_count: 100, newest_id: ids[0], oldest_id: ids[99] });
    expect(typeof meta.next_token).toBe('string');
    expect(pages[2]!.json.meta.next_token).toBeUndefined();
  });

  it('treats since_id and until_id as exclusive', async () => {
    const truth = sandbox.truth(normal).tweets.map((tweet) => tweet.id);
    const since = await paginateX(sandbox, normal, { since_id: truth[40] });
    expect(since.ids).toEqual(truth.slice(0, 40));
    const until = await paginateX(sandbox, normal, { until_id: truth[200] });
    expect(until.ids).toEqual(truth.slice(201));
    const both = await paginateX(sandbox, normal, { since_id: truth[30], until_id: truth[10] });
    expect(both.ids).toEqual(truth.slice(11, 30));
    const none = await xGet(sandbox, `/2/users/${normal}/tweets`, { since_id: truth[0] });
    expect(none.status).toBe(200);
    expect(none.json).toEqual({ meta: { result_count: 0 } });
  });

  it('serves only the newest 3,200 and moves an older since_id to the oldest reachable', async () => {
    const truth = sandbox.truth(deep);
    expect(truth.tweets).toHaveLength(3_300);
    expect(truth.x_reachable).toBe(3_200);
    const all = truth.tweets.map((tweet) => tweet.id);
    const { ids } = await paginateX(sandbox, deep);
    expect(ids).toEqual(all.slice(0, 3_200));
    const old = await paginateX(sandbox, deep, { since_id: all[3_250] });
    expect(old.ids).toEqual(all.slice(0, 3_200));
    // An until_id below the reachable tweets is moved to the newest edge, as since_id is
    // moved to the oldest: the request sees the whole reachable window.
    const unreachable = await paginateX(sandbox, deep, { until_id: all[3_250] });
    expect(unreachable.ids).toEqual(all.slice(0, 3_200));
    const lastReachable = await paginateX(sandbox, deep, { until_id: all[3_199] });
    expect(lastReachable.ids).toEqual([]);
  });

  it('pages back toward newer tweets with previous_token', async () => {
    const truth = sandbox.truth(normal).tweets.map((tweet) => tweet.id);
    const { pages } = await paginateX(sandbox, normal, { max_results: 20 });
    expect(pages[0]!.json.meta.previous_token).toBeUndefined();
    const third = pages[2]!.json;
    expect(third.meta.previous_token).toEqual(expect.any(String));
    const back = await xGet(sandbox, `/2/users/${normal}/tweets`, {
      max_results: 20,
      pagination_token: third.meta.previous_token,
    });
    expect(back.json.data.map((tweet: { id: string }) => tweet.id)).toEqual(truth.slice(20, 40));
    const top = await xGet(sandbox, `/2/users/${normal}/tweets`, {
      max_results: 20,
      pagination_token: back.json.meta.previous_token,
    });
    expect(top.json.data.map((tweet: { id: string }) => tweet.id)).toEqual(truth.slice(0, 20));
    expect(top.json.meta.previous_token).toBeUndefined();
    expect(top.json.meta.next_token).toEqual(expect.any(String));
  });

  it('answers an empty timeline with result_count 0 and no data', async () => {
    const page = await xGet(sandbox, `/2/users/${empty}/tweets`);
    expect(page.status).toBe(200);
    expect(page.json).toEqual({ meta: { result_count: 0 } });
  });

  it('returns only the default fields unless more are asked for', async () => {
    const page = await xGet(sandbox, `/2/users/${normal}/tweets`, { max_results: 5 });
    expect(page.json.data).toHaveLength(5);
    for (const tweet of page.json.data) {
      expect(Object.keys(tweet).sort()).toEqual(['edit_history_tweet_ids', 'id', 'text']);
    }
    expect(page.json.includes).toBeUndefined();
    const limited = await xGet(sandbox, `/2/users/${normal}/tweets`, {
      max_results: 5,
      'tweet.fields': 'created_at',
      expansions: 'author_id',
    });
    for (const tweet of limited.json.data) {
      expect(Object.keys(tweet).sort()).toEqual([
        'created_at',
        'edit_history_tweet_ids',
        'id',
        'text',
      ]);
    }
    expect(limited.json.includes.users).toEqual([
      { id: normal, name: expect.any(String), username: expect.any(String) },
    ]);
  });

  it('honours every requested field and expansion', async () => {
    const { pages } = await paginateX(sandbox, normal, FULL_X_QUERY);
    const tweets = pages.flatMap((page) => page.json.data);
    const media = pages.flatMap((page) => page.json.includes?.media ?? []);
    const included = pages.flatMap((page) => page.json.includes?.tweets ?? []);
    const users = pages.flatMap((page) => page.json.includes?.users ?? []);
    for (const tweet of tweets) {
      expect(tweet.author_id).toBe(normal);
      expect(tweet.created_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000Z$/);
      expect(tweet.public_metrics).toHaveProperty('impression_count');
      expect(Date.parse(tweet.created_at)).toBeLessThanOrEqual(EPOCH);
    }
    expect(users.find((user) => user.id === normal).public_metrics.followers_count).toBeGreaterThan(
      0,
    );
    // The mix a timeline has: media of each kind, replies, quotes, retweets, long tweets.
    const types = new Set(media.map((item) => item.type));
    expect(types).toEqual(new Set(['photo', 'video', 'animated_gif']));
    const references = new Set(
      tweets.flatMap((tweet) =>
        (tweet.referenced_tweets ?? []).map((ref: { type: string }) => ref.type),
      ),
    );
    expect(references).toEqual(new Set(['replied_to', 'quoted', 'retweeted']));
    expect(tweets.some((tweet) => tweet.note_tweet?.text.length > 280)).toBe(true);
    expect(new Set(tweets.map((tweet) => tweet.lang)).size).toBeGreaterThan(1);
    // Every referenced tweet and media key resolves in includes.
    const includedIds = new Set(included.map((tweet) => tweet.id));
    const mediaKeys = new Set(media.map((item) => item.media_key));
    for (const tweet of tweets) {
      for (const ref of tweet.referenced_tweets ?? []) expect(includedIds.has(ref.id)).toBe(true);
      for (const key of tweet.attachments?.media_keys ?? []) expect(mediaKeys.has(key)).toBe(true);
    }
    const video = media.find((item) => item.type === 'video');
    expect(video.variants.length).toBeGreaterThan(1);
    expect(video.public_metrics.view_count).toBeGreaterThanOrEqual(0);
    const photo = media.find((item) => item.type === 'photo');
    expect(photo).toMatchObject({
      url: expect.stringMatching(/^https:\/\/pbs\.twimg\.com\/media\//),
    });
    // Entities point at the text they describe.
    for (const tweet of tweets) {
      for (const mention of tweet.entities?.mentions ?? []) {
        expect(tweet.text.slice(mention.start, mention.end)).toBe(`@${mention.username}`);
      }
      for (const url of tweet.entities?.urls ?? [])
        expect(tweet.text.slice(url.start, url.end)).toBe(url.url);
    }
  });

  it('rejects max_results outside 5..100 with the real 400 body', async () => {
    for (const value of ['4', '101', 'ten']) {
      const page = await xGet(sandbox, `/2/users/${normal}/tweets`, { max_results: value });
      expect(page.status).toBe(400);
      expect(page.json).toEqual({
        errors: [
          {
            parameters: { max_results: [value] },
            message: `The \`max_results\` query parameter value [${value}] is not between 5 and 100`,
          },
        ],
        title: 'Invalid Request',
        detail: 'One or more parameters to your request was invalid.',
        type: 'https://api.twitter.com/2/problems/invalid-request',
      });
    }
    const badField = await xGet(sandbox, `/2/users/${normal}/tweets`, {
      'tweet.fields': 'nonsense',
    });
    expect(badField.status).toBe(400);
    expect(badField.json.errors[0].parameters).toEqual({ 'tweet.fields': ['nonsense'] });
    const badSince = await xGet(sandbox, `/2/users/${normal}/tweets`, { since_id: '12a' });
    expect(badSince.status).toBe(400);
  });

  it('expires pagination tokens and refuses forged or foreign ones', async () => {
    const first = await xGet(sandbox, `/2/users/${normal}/tweets`, { max_results: 10 });
    const token = first.json.meta.next_token as string;
    const second = await xGet(sandbox, `/2/users/${normal}/tweets`, {
      max_results: 10,
      pagination_token: token,
    });
    expect(second.status).toBe(200);
    expect(second.json.data[0].id).toBe(sandbox.truth(normal).tweets[10]!.id);
    const foreign = await xGet(sandbox, `/2/users/${deep}/tweets`, { pagination_token: token });
    expect(foreign.status).toBe(400);
    const forged = await xGet(sandbox, `/2/users/${normal}/tweets`, {
      pagination_token: `${token.slice(0, -2)}aa`,
    });
    expect(forged.status).toBe(400);
    sandbox.clock.advance(sandbox.options.cursorTtlMs + 1);
    const expired = await xGet(sandbox, `/2/users/${normal}/tweets`, {
      max_results: 10,
      pagination_token: token,
    });
    expect(expired.status).toBe(400);
    expect(expired.json).toMatchObject({
      errors: [{ parameters: { pagination_token: [token] } }],
      title: 'Invalid Request',
      type: 'https://api.twitter.com/2/problems/invalid-request',
    });
  });
});

describe('unavailable accounts and user lookup', () => {
  it('answers protected, suspended, deleted and unknown users the way X does', async () => {
    const byStatus = (status: 'protected' | 'suspended' | 'deleted') =>
      sandbox.accounts({ status })[0]!.id;
    const cases = [
      [
        byStatus('protected'),
        'https://api.twitter.com/2/problems/not-authorized-for-resource',
        'Authorization Error',
      ],
      [
        byStatus('suspended'),
        'https://api.twitter.com/2/problems/resource-unavailable',
        'Forbidden',
      ],
      [
        byStatus('deleted'),
        'https://api.twitter.com/2/problems/resource-not-found',
        'Not Found Error',
      ],
      ['123456789', 'https://api.twitter.com/2/problems/resource-not-found', 'Not Found Error'],
    ] as const;
    for (const [id, type, title] of cases) {
      const page = await xGet(sandbox, `/2/users/${id}/tweets`);
      expect(page.status).toBe(200);
      expect(page.json.data).toBeUndefined();
      expect(page.json.errors).toEqual([
        expect.objectContaining({ type, title, resource_type: 'user', parameter: 'id', value: id }),
      ]);
      // The truth agrees: nothing of theirs is reachable on X, whatever they posted.
      if (id !== '123456789') expect(sandbox.truth(id).x_reachable, id).toBe(0);
    }
  });

  it('looks users up by id and by username', async () => {
    const account = sandbox.accounts()[0]!;
    const byId = await xGet(sandbox, `/2/users/${account.id}`, {
      'user.fields': 'public_metrics,created_at',
    });
    expect(byId.status).toBe(200);
    expect(byId.json.data).toMatchObject({ id: account.id, username: account.username });
    expect(byId.json.data.public_metrics.tweet_count).toBeGreaterThanOrEqual(account.tweetCount);
    const byName = await xGet(sandbox, `/2/users/by/username/${account.username.toUpperCase()}`);
    expect(byName.json.data).toEqual({
      id: account.id,
      name: expect.any(String),
      username: account.username,
    });
    const protectedUser = sandbox.accounts({ status: 'protected' })[0]!;
    const visible = await xGet(sandbox, `/2/users/${protectedUser.id}`, {
      'user.fields': 'protected',
    });
    expect(visible.json.data.protected).toBe(true);
    const missing = await xGet(sandbox, '/2/users/by/username/nobody_here');
    expect(missing.json.errors[0]).toMatchObject({
      detail: 'Could not find user with username: [nobody_here].',
      type: 'https://api.twitter.com/2/problems/resource-not-found',
    });
  });
});
