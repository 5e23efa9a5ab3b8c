import type { SandboxAccount, SandboxUser } from './accounts.ts';
import type { CursorCodec } from './cursor-codec.ts';
import type { SandboxMedia } from './media.ts';
import { Rng } from './prng.ts';
import {
  parseXSelection,
  renderXMedia,
  renderXTweet,
  renderXUser,
  type XSelection,
} from './render-x.ts';
import { json, type SandboxResponse, xInvalidRequest, xUserProblem } from './responses.ts';
import type { ResolvedOptions } from './sandbox-options.ts';
import { parseSnowflake } from './snowflake.ts';
import { metricsTime, type SandboxTweet, tweetKind } from './tweets.ts';
import type { World } from './world.ts';

/**
 * X API v2: GET /2/users/:id/tweets, GET /2/users/:id, GET /2/users/by/username/:username.
 * Semantics from ../../shared/seeds/x-api-v2-users-id-tweets.txt: since_id and until_id are
 * exclusive, only the newest 3,200 tweets are reachable (800 with exclude=replies) and a
 * since_id older than that is silently moved to the oldest reachable tweet.
 */
const TIMELINE_PARAMS = new Set([
  'max_results',
  'pagination_token',
  'since_id',
  'until_id',
  'start_time',
  'end_time',
  'exclude',
  'expansions',
  'tweet.fields',
  'user.fields',
  'media.fields',
  'place.fields',
  'poll.fields',
]);
const USER_PARAMS = new Set(['expansions', 'tweet.fields', 'user.fields']);
const ID_PATTERN = /^[0-9]{1,19}$/;

export interface XContext {
  world: World;
  codec: CursorCodec;
  options: ResolvedOptions;
  now: number;
}

function unknownParameter(query: URLSearchParams, allowed: Set<string>): SandboxResponse | null {
  for (const name of query.keys()) {
    if (!allowed.has(name)) {
      return xInvalidRequest(
        name,
        query.get(name) ?? '',
        `The query parameter [${name}] is not one of [${[...allowed].join(',')}]`,
      );
    }
  }
  return null;
}

function unavailable(
  account: SandboxAccount | undefined,
): 'not_found' | 'suspended' | 'protected' | null {
  if (account === undefined || account.status === 'deleted') return 'not_found';
  if (account.status === 'suspended') return 'suspended';
  if (account.status === 'protected') return 'protected';
  return null;
}

function idParameter(query: URLSearchParams, name: string): bigint | null | SandboxResponse {
  const value = query.get(name);
  if (value === null) return null;
  if (!ID_PATTERN.test(value)) {
    return xInvalidRequest(
      name,
      value,
      `The \`${name}\` query parameter value [${value}] does not match ^[0-9]{1,19}$`,
    );
  }
  return parseSnowflake(value) ?? 0n;
}

function timeParameter(query: URLSearchParams, name: string): number | null | SandboxResponse {
  const value = query.get(name);
  if (value === null) return null;
  const ms = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(value) || Number.isNaN(ms)) {
    return xInvalidRequest(
      name,
      value,
      `The \`${name}\` query parameter value [${value}] is not a valid date`,
    );
  }
  return ms;
}

function isResponse(value: unknown): value is SandboxResponse {
  return typeof value === 'object' && value !== null && 'status' in value && 'body' in value;
}

export function xUserTimeline(
  ctx: XContext,
  userId: string,
  query: URLSearchParams,
): SandboxResponse {
  const unknown = unknownParameter(query, TIMELINE_PARAMS);
  if (unknown !== null) return unknown;
  if (!ID_PATTERN.test(userId)) {
    return xInvalidRequest(
      'id',
      userId,
      `The \`id\` query parameter value [${userId}] does not match ^[0-9]{1,19}$`,
    );
  }
  let maxResults = 10;
  const rawMax = query.get('max_results');
  if (rawMax !== null) {
    const parsed = /^-?\d+$/.test(rawMax) ? Number(rawMax) : Number.NaN;
    if (!(parsed >= 5 && parsed <= 100)) {
      return xInvalidRequest(
        'max_results',
        rawMax,
        `The \`max_results\` query parameter value [${rawMax}] is not between 5 and 100`,
      );
    }
    maxResults = parsed;
  }
  const sinceParam = idParameter(query, 'since_id');
  if (isResponse(sinceParam)) return sinceParam;
  const untilParam = idParameter(query, 'until_id');
  if (isResponse(untilParam)) return untilParam;
  const startTime = timeParameter(query, 'start_time');
  if (isResponse(startTime)) return startTime;
  const endTime = timeParameter(query, 'end_time');
  if (isResponse(endTime)) return endTime;
  const exclude = new Set(
    query
      .get('exclude')
      ?.split(',')
      .filter((value) => value !== '') ?? [],
  );
  for (const value of exclude) {
    if (value !== 'replies' && value !== 'retweets') {
      return xInvalidRequest(
        'exclude',
        value,
        `The \`exclude\` query parameter value [${value}] is not one of [replies,retweets]`,
      );
    }
  }
  const selection = parseXSelection(query, 'tweets');
  if ('parameter' in selection)
    return xInvalidRequest(selection.parameter, selection.value, selection.message);

  const account = ctx.world.accountById(userId);
  const problem = unavailable(account);
  if (problem !== null || account === undefined)
    return xUserProblem(problem ?? 'not_found', 'id', userId);

  const timeline = ctx.world.timeline(account);
  const count = timeline.countAt(ctx.now);

  const token = query.get('pagination_token');
  let bound: bigint | null = null;
  let backwards = false;
  let tokenSince: bigint | null = null;
  let page = 0;
  if (token !== null) {
    const position = ctx.codec.decode(token, 'x');
    if (
      position === null ||
      position.accountIndex !== account.index ||
      ctx.now - position.issuedAtMs > ctx.options.cursorTtlMs
    ) {
      return xInvalidRequest(
        'pagination_token',
        token,
        `The \`pagination_token\` query parameter value [${token}] is not a valid pagination token`,
      );
    }
    bound = position.upper;
    backwards = position.backwards;
    tokenSince = position.sinceId;
    page = position.page;
  }
  const sinceId = sinceParam ?? tokenSince;

  // The window the request can see: the newest 3,200 (800 without replies), narrowed by
  // since_id/until_id and the times. A bound outside the reachable tweets is moved to its
  // edge, as the docs say ("forced to the oldest/most recent ID available").
  const cap = exclude.has('replies')
    ? Math.min(800, ctx.options.xTimelineCap)
    : ctx.options.xTimelineCap;
  const floor = Math.max(0, count - cap);
  let lo = floor;
  if (sinceId !== null) lo = Math.max(lo, timeline.firstAbove(sinceId, count));
  if (startTime !== null) lo = Math.max(lo, timeline.firstAtOrAfterTime(startTime, count));
  let hi = count;
  const untilUnreachable =
    untilParam !== null && count > floor && untilParam < timeline.idAt(floor);
  if (untilParam !== null && !untilUnreachable) hi = timeline.firstAtOrAbove(untilParam, count);
  if (endTime !== null) hi = Math.min(hi, timeline.firstAtOrAfterTime(endTime + 1000, count));
  const windowLo = lo;
  const windowHi = hi;
  // next_token pages go down from below its bound; previous_token pages come back up.
  if (bound !== null && !backwards) hi = Math.min(hi, timeline.firstAtOrAbove(bound, count));
  if (bound !== null && backwards) lo = Math.max(lo, timeline.firstAbove(bound, count));

  // Short and empty pages, as X serves them: drawn from the position so a retry of the
  // same request gets the same page.
  let target = maxResults;
  const draw = Rng.of(ctx.world.seedHash, 9, account.index, page, backwards ? -lo : hi).next();
  if (draw < ctx.options.emptyPageRate) target = 0;
  else if (draw < ctx.options.emptyPageRate + ctx.options.shortPageRate) {
    target = 1 + Math.floor((draw * 7919) % Math.max(1, maxResults - 1));
  }

  const excluded = (k: number) => {
    if (exclude.size === 0) return false;
    const kind = tweetKind(ctx.world.seedHash, account.index, k);
    if (exclude.has('retweets') && kind === 'retweet') return true;
    return exclude.has('replies') && (kind === 'reply' || kind === 'self_reply');
  };
  // Indexes taken, newest first; [bottom, top] is the span of the timeline this page covers.
  const taken: number[] = [];
  let bottom: number;
  let top: number;
  if (!backwards) {
    let k = hi - 1;
    for (; k >= lo && taken.length < target; k--) if (!excluded(k)) taken.push(k);
    bottom = k + 1;
    top = hi - 1;
  } else {
    let k = lo;
    for (; k < hi && taken.length < target; k++) if (!excluded(k)) taken.unshift(k);
    bottom = lo;
    top = k - 1;
  }
  const tweets = taken.map((k) => ctx.world.tweet(account, k));
  const meta: Record<string, unknown> = { result_count: tweets.length };
  const newest = tweets[0];
  const oldest = tweets[tweets.length - 1];
  if (newest !== undefined && oldest !== undefined) {
    meta.newest_id = newest.id;
    meta.oldest_id = oldest.id;
  }
  const tokenAt = (upper: bigint, back: boolean) =>
    ctx.codec.encode({
      provider: 'x',
      accountIndex: account.index,
      upper,
      backwards: back,
      sinceId,
      page: page + 1,
      issuedAtMs: ctx.now,
    });
  // Older tweets remain below the page: next_token, bounded by the lowest index covered
  // (for an empty page at the very top, a bound just above the newest tweet).
  if (bottom > windowLo) {
    const upper = bottom < count ? timeline.idAt(bottom) : timeline.idAt(count - 1) + 1n;
    meta.next_token = tokenAt(upper, false);
  }
  // Newer tweets remain above a page that is not the first: previous_token.
  if (token !== null && top + 1 < windowHi && top >= 0) {
    meta.previous_token = tokenAt(timeline.idAt(top), true);
  }
  if (tweets.length === 0) return json(200, { meta });
  // Built from cached per-tweet JSON: stringifying 100 tweet objects per page would cost
  // more than everything else the sandbox does (see bench/sandbox.bench.ts).
  const render = new XPageRenderer(ctx, selection);
  const chunks: Buffer[] = [PAGE_START];
  tweets.forEach((tweet, i) => {
    if (i > 0) chunks.push(COMMA);
    chunks.push(render.tweet(tweet));
  });
  chunks.push(DATA_END);
  render.includes(tweets, chunks);
  chunks.push(Buffer.from(`"meta":${JSON.stringify(meta)}}`));
  return { status: 200, body: chunks };
}

const PAGE_START = Buffer.from('{"data":[');
const INCLUDES_START = Buffer.from('"includes":{');
const INCLUDES_END = Buffer.from('},');

function list(opening: string, items: readonly Buffer[]): Buffer[] {
  const out: Buffer[] = [Buffer.from(opening)];
  items.forEach((item, i) => {
    if (i > 0) out.push(COMMA);
    out.push(item);
  });
  out.push(Buffer.from(']'));
  return out;
}
const DATA_END = Buffer.from('],');
const COMMA = Buffer.from(',');

/**
 * Render-cache keys, interned: the same selection and minute give the very same string, so
 * the cache check per tweet is a pointer comparison rather than a 150-character one.
 */
const internedKeys = new Map<string, string>();
function cacheKey(fields: ReadonlySet<string>, metricsNow: number): string {
  const key = `${[...fields].sort().join(',')}@${metricsNow}`;
  const interned = internedKeys.get(key);
  if (interned !== undefined) return interned;
  if (internedKeys.size > 10_000) internedKeys.clear();
  internedKeys.set(key, key);
  return key;
}

class XPageRenderer {
  private readonly metricsNow: number;
  private readonly tweetKey: string;
  private readonly mediaKey: string;
  private readonly userKey: string;

  constructor(
    private readonly ctx: XContext,
    private readonly selection: XSelection,
  ) {
    this.metricsNow = metricsTime(ctx.now);
    this.tweetKey = cacheKey(selection.tweet, this.metricsNow);
    this.mediaKey = cacheKey(selection.media, this.metricsNow);
    this.userKey = cacheKey(selection.user, this.metricsNow);
  }

  private user(user: SandboxUser): Buffer {
    const { ctx } = this;
    const timeline = user.index >= 0 ? ctx.world.timeline(user as SandboxAccount) : null;
    const count = timeline === null ? 0 : timeline.countAt(ctx.now);
    // tweet_count and most_recent_tweet_id move with the count, the rest by the minute.
    const key = `${this.userKey}#${count}`;
    const cached = user.xJson;
    if (cached !== undefined && cached.key === key) return cached.json;
    const json = Buffer.from(
      JSON.stringify(
        renderXUser(
          user,
          this.selection.user,
          ctx.world.userMetricsAt(user, ctx.now, count),
          timeline !== null && count > 0 ? timeline.idStringAt(count - 1) : null,
        ),
      ),
    );
    user.xJson = { key, json };
    return json;
  }

  tweet(tweet: SandboxTweet): Buffer {
    const cached = tweet.xJson;
    if (cached !== undefined && cached.key === this.tweetKey) return cached.json;
    const json = Buffer.from(
      JSON.stringify(renderXTweet(tweet, this.selection.tweet, this.metricsNow)),
    );
    tweet.xJson = { key: this.tweetKey, json };
    return json;
  }

  private media(tweet: SandboxTweet, item: SandboxMedia): Buffer {
    const cached = item.xJson;
    if (cached !== undefined && cached.key === this.mediaKey) return cached.json;
    const json = Buffer.from(
      JSON.stringify(renderXMedia(tweet, item, this.selection.media, this.metricsNow)),
    );
    item.xJson = { key: this.mediaKey, json };
    return json;
  }

  /** Appends `"includes":{…},` to `chunks` when the expansions ask for anything. */
  includes(tweets: readonly SandboxTweet[], chunks: Buffer[]): void {
    const { ctx, selection } = this;
    const { expansions } = selection;
    if (expansions.size === 0) return;
    const users = new Map<string, Buffer>();
    const media: Buffer[] = [];
    const seenMedia = new Set<string>();
    const referenced = new Map<string, SandboxTweet>();
    const addUser = (tweet: SandboxTweet | undefined, userId: string | null) => {
      if (userId === null || users.has(userId)) return;
      const user =
        tweet?.author.id === userId
          ? tweet.author
          : (ctx.world.accountById(userId) ?? ctx.world.externalUserById(userId));
      if (user === undefined) return;
      users.set(userId, this.user(user));
    };
    const addMedia = (tweet: SandboxTweet) => {
      for (const item of tweet.media) {
        if (seenMedia.has(item.mediaKey)) continue;
        seenMedia.add(item.mediaKey);
        media.push(this.media(tweet, item));
      }
    };
    for (const tweet of tweets) {
      if (expansions.has('author_id')) addUser(tweet, tweet.author.id);
      if (expansions.has('in_reply_to_user_id')) addUser(tweet, tweet.inReplyToUserId);
      if (expansions.has('entities.mentions.username')) {
        for (const mention of tweet.entities.mentions) addUser(undefined, mention.id);
      }
      if (expansions.has('attachments.media_keys')) addMedia(tweet);
      if (tweet.referenced !== null && expansions.has('referenced_tweets.id')) {
        referenced.set(tweet.referenced.tweet.id, tweet.referenced.tweet);
      }
    }
    for (const tweet of referenced.values()) {
      if (expansions.has('referenced_tweets.id.author_id')) addUser(tweet, tweet.author.id);
      if (expansions.has('attachments.media_keys')) addMedia(tweet);
    }
    const parts: Buffer[][] = [];
    if (users.size > 0) parts.push(list('"users":[', [...users.values()]));
    if (media.length > 0) parts.push(list('"media":[', media));
    if (referenced.size > 0) {
      const included = [...referenced.values()].map((tweet) => this.tweet(tweet));
      parts.push(list('"tweets":[', included));
    }
    if (parts.length === 0) return;
    chunks.push(INCLUDES_START);
    parts.forEach((part, i) => {
      if (i > 0) chunks.push(COMMA);
      chunks.push(...part);
    });
    chunks.push(INCLUDES_END);
  }
}

export function xUserLookup(
  ctx: XContext,
  by: 'id' | 'username',
  value: string,
  query: URLSearchParams,
): SandboxResponse {
  const unknown = unknownParameter(query, USER_PARAMS);
  if (unknown !== null) return unknown;
  if (by === 'id' && !ID_PATTERN.test(value)) {
    return xInvalidRequest(
      'id',
      value,
      `The \`id\` query parameter value [${value}] does not match ^[0-9]{1,19}$`,
    );
  }
  if (by === 'username' && !/^[A-Za-z0-9_]{1,15}$/.test(value)) {
    return xInvalidRequest(
      'username',
      value,
      `The \`username\` query parameter value [${value}] does not match ^[A-Za-z0-9_]{1,15}$`,
    );
  }
  const selection = parseXSelection(query, 'users');
  if ('parameter' in selection)
    return xInvalidRequest(selection.parameter, selection.value, selection.message);
  const account = by === 'id' ? ctx.world.accountById(value) : ctx.world.accountByUsername(value);
  // A protected account's profile is public; only its tweets are not.
  if (account === undefined || account.status === 'deleted')
    return xUserProblem('not_found', by, value);
  if (account.status === 'suspended') return xUserProblem('suspended', by, value);
  const timeline = ctx.world.timeline(account);
  const count = timeline.countAt(ctx.now);
  const data = renderXUser(
    account,
    selection.user,
    ctx.world.userMetricsAt(account, ctx.now, count),
    count > 0 ? timeline.idStringAt(count - 1) : null,
  );
  const body: Record<string, unknown> = { data };
  return json(200, body);
}
