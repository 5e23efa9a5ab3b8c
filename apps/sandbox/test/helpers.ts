import type { RunningSandbox } from '../src/index.ts';

export const X_TOKEN = 'sandbox-x-token';
export const AGNTDATA_KEY = 'sandbox-agntdata-key';

/** Every field and expansion the providers package asks for (DESIGN.md, "Providers"). */
export const FULL_X_QUERY = {
  expansions:
    'attachments.media_keys,author_id,referenced_tweets.id,referenced_tweets.id.author_id',
  'tweet.fields':
    'attachments,author_id,conversation_id,created_at,entities,in_reply_to_user_id,lang,note_tweet,possibly_sensitive,public_metrics,referenced_tweets,reply_settings,source',
  'media.fields':
    'alt_text,duration_ms,height,media_key,preview_image_url,public_metrics,type,url,variants,width',
  'user.fields':
    'created_at,description,location,profile_image_url,protected,public_metrics,url,username,verified,verified_type',
};

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test bodies are inspected field by field
  json: any;
}

async function reply(response: Response): Promise<Reply> {
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

export async function xGet(
  sandbox: RunningSandbox,
  path: string,
  query: Record<string, string | number | undefined> = {},
  token: string | null = X_TOKEN,
): Promise<Reply> {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query))
    if (value !== undefined) params.set(key, String(value));
  const search = params.size > 0 ? `?${params}` : '';
  const headers: Record<string, string> =
    token === null ? {} : { authorization: `Bearer ${token}` };
  return reply(await fetch(`${sandbox.url}${path}${search}`, { headers }));
}

export async function agntdataPost(
  sandbox: RunningSandbox,
  path: string,
  body: string | Record<string, unknown>,
  token: string | null = AGNTDATA_KEY,
): Promise<Reply> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  return reply(
    await fetch(`${sandbox.url}${path}`, {
      method: 'POST',
      headers,
      body: typeof body === 'string' ? body : JSON.stringify(body),
    }),
  );
}

export async function control(
  sandbox: RunningSandbox,
  path: string,
  body?: unknown,
): Promise<Reply> {
  return reply(
    await fetch(`${sandbox.url}/_sandbox/${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
  );
}

/** Follows next_token to the end; returns every tweet id in the order served. */
export async function paginateX(
  sandbox: RunningSandbox,
  userId: string,
  query: Record<string, string | number | undefined> = {},
): Promise<{ ids: string[]; pages: Reply[] }> {
  const ids: string[] = [];
  const pages: Reply[] = [];
  let token: string | undefined;
  for (let guard = 0; guard < 1000; guard++) {
    const page = await xGet(sandbox, `/2/users/${userId}/tweets`, {
      max_results: 100,
      ...query,
      pagination_token: token,
    });
    if (page.status !== 200) throw new Error(`page ${guard}: ${page.status} ${page.text}`);
    pages.push(page);
    for (const tweet of page.json.data ?? []) ids.push(tweet.id);
    token = page.json.meta?.next_token;
    if (token === undefined) return { ids, pages };
  }
  throw new Error('pagination did not end');
}

export async function paginateAgntdata(
  sandbox: RunningSandbox,
  userId: string,
  limit = 20,
): Promise<{ ids: string[]; pages: Reply[] }> {
  const ids: string[] = [];
  const pages: Reply[] = [];
  let page = await agntdataPost(
    sandbox,
    '/user/medias',
    `{"user_id": ${userId}, "limit": ${limit}}`,
  );
  for (let guard = 0; guard < 1000; guard++) {
    if (page.status !== 200) throw new Error(`page ${guard}: ${page.status} ${page.text}`);
    pages.push(page);
    const data = page.json.success === true ? page.json.data : page.json;
    for (const tweet of data.results) ids.push(tweet.tweet_id);
    const token = data.continuation_token;
    if (token === null || token === undefined) return { ids, pages };
    page = await agntdataPost(
      sandbox,
      '/user/medias/continuation',
      `{"user_id": ${userId}, "limit": ${limit}, "continuation_token": ${JSON.stringify(token)}}`,
    );
  }
  throw new Error('pagination did not end');
}
