import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

/**
 * `pnpm bench:sandbox`: 100-tweet X timeline pages served per second, with every field and
 * expansion the providers package asks for, over 200 accounts × 500 tweets (the crawl
 * benchmark's world). The sandbox runs in a child process; autocannon drives it from here.
 * Target: ≥ 1,500 pages/s, so the sandbox is never the bottleneck of the pipeline benchmarks.
 */
const TARGET_PAGES_PER_S = 1_500;
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const TOKEN = 'sandbox-x-token';
const QUERY = new URLSearchParams({
  max_results: '100',
  expansions:
    'attachments.media_keys,author_id,referenced_tweets.id,referenced_tweets.id.author_id',
  'tweet.fields':
    'attachments,author_id,conversation_id,created_at,entities,in_reply_to_user_id,lang,note_tweet,possibly_sensitive,public_metrics,referenced_tweets,reply_settings,source',
  'media.fields':
    'alt_text,duration_ms,height,media_key,preview_image_url,public_metrics,type,url,variants,width',
  'user.fields':
    'created_at,description,location,profile_image_url,protected,public_metrics,url,username,verified,verified_type',
});

const child = fork(fileURLToPath(new URL('./serve.ts', import.meta.url)), [], {
  execArgv: ['--import', 'tsx'],
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});
async function ask<T>(message: string, key: string): Promise<T> {
  child.send(message);
  for (;;) {
    const [reply] = (await once(child, 'message')) as [Record<string, unknown>];
    if (key in reply) return reply[key] as T;
  }
}
type CpuUsage = { user: number; system: number };
try {
  const [ready] = (await once(child, 'message')) as [{ url: string }];
  const { url } = ready;
  const headers = { authorization: `Bearer ${TOKEN}` };

  // 1,000 distinct full pages: five 100-tweet pages per account, addressed with until_id.
  const accounts = ((await (await fetch(`${url}/_sandbox/stats`)).json()) as { accounts: string[] })
    .accounts;
  const paths: string[] = [];
  for (const id of accounts) {
    const truth = (await (await fetch(`${url}/_sandbox/truth/${id}`)).json()) as {
      tweets: { id: string }[];
    };
    for (let offset = 0; offset + 100 <= truth.tweets.length; offset += 100) {
      const until = offset === 0 ? '' : `&until_id=${truth.tweets[offset - 1]!.id}`;
      paths.push(`/2/users/${id}/tweets?${QUERY}${until}`);
    }
  }
  // Warm-up: every tweet generated once (the crawl benchmark reads each page once too).
  for (const path of paths) {
    const response = await fetch(`${url}${path}`, { headers });
    const body = (await response.json()) as { meta: { result_count: number } };
    if (response.status !== 200 || body.meta.result_count !== 100) {
      throw new Error(`warm-up ${path}: ${response.status} ${body.meta.result_count}`);
    }
  }
  const sample = await (await fetch(`${url}${paths[0]}`, { headers })).text();

  /** Runs autocannon over `requests` and measures the sandbox's CPU per request meanwhile. */
  async function measure(
    requests: autocannon.Request[],
    extraHeaders: Record<string, string>,
    seconds: number,
  ) {
    const before = await ask<CpuUsage>('cpu', 'cpu');
    const result = await autocannon({
      url,
      connections: CONNECTIONS,
      duration: seconds,
      headers: { ...headers, ...extraHeaders },
      requests,
    });
    const after = await ask<CpuUsage>('cpu', 'cpu');
    const cpuMs = (after.user - before.user + after.system - before.system) / 1000;
    return {
      result,
      cpuPerPage: cpuMs / Math.max(1, result.requests.total),
      systemShare: (after.system - before.system) / 1000 / Math.max(1, cpuMs),
      pagesPerS: Math.round(result.requests.total / (result.duration || seconds)),
    };
  }

  const x = await measure(
    paths.map((path) => ({ method: 'GET', path })),
    {},
    DURATION_S,
  );
  // agntdata alongside, for the record: 100-result /user/medias pages (one per account).
  const agntdataHeaders = {
    authorization: 'Bearer sandbox-agntdata-key',
    'content-type': 'application/json',
  };
  const agntdataRequests = accounts.map((id) => ({
    method: 'POST' as const,
    path: '/user/medias',
    body: `{"user_id": ${id}, "limit": 100}`,
  }));
  for (const request of agntdataRequests) {
    await (
      await fetch(`${url}${request.path}`, {
        method: 'POST',
        headers: agntdataHeaders,
        body: request.body,
      })
    ).arrayBuffer();
  }
  const agntdataSample = await (
    await fetch(`${url}/user/medias`, {
      method: 'POST',
      headers: agntdataHeaders,
      body: agntdataRequests[0]?.body ?? '',
    })
  ).text();
  const agntdata = await measure(
    agntdataRequests,
    agntdataHeaders,
    Math.max(2, Math.round(DURATION_S / 2)),
  );

  const ratio = x.pagesPerS / TARGET_PAGES_PER_S;
  const perCore = (ms: number) => Math.round(1000 / ms);
  process.stdout.write(
    [
      `sandbox: ${accounts.length} accounts × 500 tweets, ${paths.length} distinct 100-tweet X pages, all fields and expansions`,
      `X page size: ${(Buffer.byteLength(sample) / 1024).toFixed(1)} KiB`,
      `autocannon: ${CONNECTIONS} connections, ${DURATION_S} s, ${x.result.requests.total} requests, ${x.result.non2xx} non-2xx, ${x.result.errors} errors`,
      `latency: p50 ${x.result.latency.p50} ms, p99 ${x.result.latency.p99} ms; throughput ${(x.result.throughput.average / 1_048_576).toFixed(1)} MiB/s`,
      `sandbox CPU: ${x.cpuPerPage.toFixed(3)} ms per page (user+system, ${Math.round(x.systemShare * 100)}% system) → ${perCore(x.cpuPerPage)} pages/s per fully used core`,
      `agntdata: ${(Buffer.byteLength(agntdataSample) / 1024).toFixed(1)} KiB 100-result pages, ${agntdata.pagesPerS} pages/s, ${agntdata.cpuPerPage.toFixed(3)} ms CPU per page (${agntdata.result.non2xx} non-2xx)`,
      `pages/s: ${x.pagesPerS} (${ratio.toFixed(2)}× the ${TARGET_PAGES_PER_S} pages/s target)`,
      `bench:sandbox pages_per_s=${x.pagesPerS}`,
      '',
    ].join('\n'),
  );
  const failures = [x.result, agntdata.result].reduce(
    (sum, result) => sum + result.non2xx + result.errors,
    0,
  );
  if (failures > 0) process.exitCode = 1;
} finally {
  child.send('stop');
}
