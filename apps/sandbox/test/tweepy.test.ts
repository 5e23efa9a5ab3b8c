import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSandbox, startSandbox } from '../src/index.ts';
import { X_TOKEN } from './helpers.ts';

/**
 * A third-party client agrees with the sandbox: Debian's python3-tweepy (installed by .ci/run;
 * importable only from /usr/bin/python3) pages get_users_tweets with tweepy.Paginator.
 * tweepy.Client hard-codes https://api.twitter.com in Client.request, so the script swaps the
 * client's requests.Session for one that sends that host to the sandbox instead.
 */
const SCRIPT = `
import json, sys
import requests, tweepy

base, token, user_id = sys.argv[1], sys.argv[2], sys.argv[3]

class SandboxSession(requests.Session):
    def request(self, method, url, *args, **kwargs):
        return super().request(method, url.replace("https://api.twitter.com", base, 1), *args, **kwargs)

client = tweepy.Client(bearer_token=token)
client.session = SandboxSession()
ids, pages = [], 0
for response in tweepy.Paginator(client.get_users_tweets, user_id, max_results=100,
                                  tweet_fields=["created_at", "public_metrics"],
                                  expansions=["attachments.media_keys"]):
    pages += 1
    ids.extend(str(tweet.id) for tweet in (response.data or []))
me = client.get_user(id=user_id, user_fields=["public_metrics"])
print(json.dumps({"ids": ids, "pages": pages, "username": me.data.username,
                  "tweepy": tweepy.__version__}))
`;

const run = promisify(execFile);
let sandbox: RunningSandbox;

beforeAll(async () => {
  sandbox = await startSandbox({
    seed: 'tweepy',
    accounts: 2,
    epochMs: Date.UTC(2026, 0, 15, 12),
    frozen: true,
    tweetsPerAccount: 345,
    shortPageRate: 0.2,
    emptyPageRate: 0.05,
  });
});
afterAll(() => sandbox.stop());

describe('tweepy against the sandbox', () => {
  it('paginates get_users_tweets to exactly the truth’s ids', async () => {
    const account = sandbox.accounts()[1]!;
    const { stdout } = await run(
      '/usr/bin/python3',
      ['-c', SCRIPT, sandbox.url, X_TOKEN, account.id],
      {
        timeout: 30_000,
      },
    );
    const result = JSON.parse(stdout) as { ids: string[]; pages: number; username: string };
    expect(result.ids).toEqual(sandbox.truth(account.id).tweets.map((tweet) => tweet.id));
    expect(result.pages).toBeGreaterThanOrEqual(4);
    expect(result.username).toBe(account.username);
    const asked = sandbox
      .requests()
      .filter((entry) => entry.endpoint === 'GET /2/users/:id/tweets');
    expect(asked).toHaveLength(result.pages);
    expect(asked.slice(1).every((entry) => entry.params.pagination_token !== undefined)).toBe(true);
  });
});
