import type { SandboxAccount, SandboxUser } from './accounts.ts';
import { generateMedia, type MediaType, type SandboxMedia } from './media.ts';
import { Rng } from './prng.ts';
import { snowflakeAt } from './snowflake.ts';
import { entitiesWithin, type Language, TextBuilder, type TextEntities } from './text.ts';

/**
 * One tweet, generated from (seed, account, position in the timeline) alone. Metrics are not
 * stored: `metricsAt` grows them toward their final values with the tweet's age, so a frozen
 * clock gives the same numbers on every request and a running one gives rising numbers.
 */
export type TweetKind = 'original' | 'reply' | 'self_reply' | 'quote' | 'retweet';

export interface TweetMetrics {
  retweet_count: number;
  reply_count: number;
  like_count: number;
  quote_count: number;
  bookmark_count: number;
  impression_count: number;
}

export interface ReferencedTweet {
  type: 'replied_to' | 'quoted' | 'retweeted';
  tweet: SandboxTweet;
}

export interface SandboxTweet {
  id: string;
  createdAtMs: number;
  author: SandboxUser;
  kind: TweetKind;
  /** What `text` holds: the whole text, or for a note tweet its first 280 characters. */
  text: string;
  entities: TextEntities;
  /** The whole text of a tweet over 280 characters (X's `note_tweet`). */
  note: { text: string; entities: TextEntities } | null;
  lang: Language | 'zxx';
  source: string;
  possiblySensitive: boolean;
  replySettings: 'everyone' | 'following' | 'mentionedUsers';
  conversationId: string;
  inReplyToUserId: string | null;
  referenced: ReferencedTweet | null;
  media: SandboxMedia[];
  metricsFinal: TweetMetrics;
  /** Sandbox ms after which metrics reach ~63% of their final values. */
  metricsTauMs: number;
  /** The X JSON of this tweet for one field selection and metrics minute (render cache). */
  xJson?: { key: string; json: Buffer } | undefined;
  /** The agntdata JSON of this tweet, cut where the user object goes (render cache). */
  agntdataJson?: { metricsNow: number; before: Buffer; after: Buffer } | undefined;
}

export interface TweetContext {
  seedHash: number;
  account: SandboxAccount;
  /** Creation time of the account's k-th tweet (oldest first). */
  timeOf(k: number): number;
  idOf(k: number): string;
  tweetOf(k: number): SandboxTweet;
  externalUsers: readonly SandboxUser[];
}

const SOURCES = ['Twitter for iPhone', 'Twitter for Android', 'Twitter Web App', 'TweetDeck'];
const NOTE_LIMIT = 280;

export function tweetKind(seedHash: number, accountIndex: number, k: number): TweetKind {
  const roll = Rng.of(seedHash, 3, accountIndex, k).next();
  if (roll < 0.1) return 'retweet';
  if (roll < 0.17) return 'quote';
  if (roll < 0.27) return 'reply';
  if (roll < 0.35 && k > 0) return 'self_reply';
  return 'original';
}

function finalMetrics(rng: Rng, followers: number, kind: TweetKind): TweetMetrics {
  const reach = Math.max(20, followers) * (0.05 + rng.next() * 0.6);
  const like = kind === 'retweet' ? 0 : Math.floor(reach * (0.002 + rng.next() * 0.03));
  return {
    like_count: like,
    retweet_count: kind === 'retweet' ? 0 : Math.floor(like * rng.next() * 0.2),
    reply_count: kind === 'retweet' ? 0 : Math.floor(like * rng.next() * 0.08),
    quote_count: kind === 'retweet' ? 0 : Math.floor(like * rng.next() * 0.03),
    bookmark_count: kind === 'retweet' ? 0 : Math.floor(like * rng.next() * 0.05),
    impression_count: kind === 'retweet' ? 0 : Math.floor(reach * (1 + rng.next() * 4)),
  };
}

/**
 * Metrics (tweets', media views, followers) move by the sandbox minute, the same on both
 * providers: fine enough for any crawl, and it lets rendered JSON be cached.
 */
export const METRICS_STEP_MS = 60_000;

export function metricsTime(nowMs: number): number {
  return Math.floor(nowMs / METRICS_STEP_MS) * METRICS_STEP_MS;
}

export function metricsAt(tweet: SandboxTweet, nowMs: number): TweetMetrics {
  const age = Math.max(0, nowMs - tweet.createdAtMs);
  const share = 1 - Math.exp(-age / tweet.metricsTauMs);
  const final = tweet.metricsFinal;
  return {
    retweet_count: Math.floor(final.retweet_count * share),
    reply_count: Math.floor(final.reply_count * share),
    like_count: Math.floor(final.like_count * share),
    quote_count: Math.floor(final.quote_count * share),
    bookmark_count: Math.floor(final.bookmark_count * share),
    impression_count: Math.floor(final.impression_count * share),
  };
}

export function mediaViewsAt(tweet: SandboxTweet, media: SandboxMedia, nowMs: number): number {
  const age = Math.max(0, nowMs - tweet.createdAtMs);
  return Math.floor((media.viewsFinal ?? 0) * (1 - Math.exp(-age / tweet.metricsTauMs)));
}

/** A tweet by someone outside the sandbox, referenced by an account's reply/quote/retweet. */
function externalTweet(ctx: TweetContext, k: number, beforeMs: number): SandboxTweet {
  const rng = Rng.of(ctx.seedHash, 4, ctx.account.index, k);
  const author = rng.pick(ctx.externalUsers);
  const createdAtMs = beforeMs - rng.int(60_000, 20 * 86_400_000);
  const id = snowflakeAt(createdAtMs, 0x200000 | rng.int(0, 0x1fffff)).toString();
  const builder = new TextBuilder().words(rng, author.lang, rng.int(5, 18));
  if (rng.chance(0.3)) builder.hashtag(rng);
  return {
    id,
    createdAtMs,
    author,
    kind: 'original',
    text: builder.text,
    entities: builder.entities,
    note: null,
    lang: author.lang,
    source: rng.pick(SOURCES),
    possiblySensitive: false,
    replySettings: 'everyone',
    conversationId: id,
    inReplyToUserId: null,
    referenced: null,
    media: [],
    metricsFinal: finalMetrics(rng, author.followersBase, 'original'),
    metricsTauMs: rng.int(3_600_000, 12 * 3_600_000),
  };
}

/**
 * The media a tweet carries, from a stream of its own so agntdata's "tweets with media" can
 * be found without generating every tweet. Retweets and quotes carry none.
 */
export function mediaPlan(seedHash: number, accountIndex: number, k: number): MediaType[] {
  const kind = tweetKind(seedHash, accountIndex, k);
  if (kind === 'retweet' || kind === 'quote') return [];
  const rng = Rng.of(seedHash, 10, accountIndex, k);
  const roll = rng.next();
  if (roll < 0.32) {
    const count = rng.chance(0.7) ? 1 : rng.int(2, 4);
    return Array.from({ length: count }, () => 'photo' as const);
  }
  if (roll < 0.4) return ['video'];
  if (roll < 0.44) return ['animated_gif'];
  return [];
}

export function generateTweet(ctx: TweetContext, k: number): SandboxTweet {
  const { account, seedHash } = ctx;
  const rng = Rng.of(seedHash, 8, account.index, k);
  const kind = tweetKind(seedHash, account.index, k);
  const createdAtMs = ctx.timeOf(k);
  const id = ctx.idOf(k);
  const lang: Language = rng.chance(0.85) ? account.lang : rng.pick(['en', 'es', 'ja'] as const);
  const builder = new TextBuilder();
  let referenced: ReferencedTweet | null = null;
  let conversationId = id;
  let inReplyToUserId: string | null = null;
  let media: SandboxMedia[] = [];
  let note: SandboxTweet['note'] = null;

  if (kind === 'retweet') {
    const original = externalTweet(ctx, k, createdAtMs);
    referenced = { type: 'retweeted', tweet: original };
    builder.raw('RT ').mention(original.author.username, original.author.id).raw(': ');
    const prefix = builder.text.length;
    builder.raw(original.text);
    for (const tag of original.entities.hashtags) {
      builder.entities.hashtags.push({ ...tag, start: tag.start + prefix, end: tag.end + prefix });
    }
  } else {
    if (kind === 'reply') {
      const parent = externalTweet(ctx, k, createdAtMs);
      referenced = { type: 'replied_to', tweet: parent };
      conversationId = parent.conversationId;
      inReplyToUserId = parent.author.id;
      builder.mention(parent.author.username, parent.author.id);
    } else if (kind === 'self_reply') {
      const parent = ctx.tweetOf(k - 1);
      referenced = { type: 'replied_to', tweet: parent };
      conversationId = parent.conversationId;
      inReplyToUserId = account.id;
    }
    const isNote = kind === 'original' && rng.chance(0.05);
    builder.words(rng, lang, isNote ? rng.int(70, 110) : rng.int(4, 28));
    if (rng.chance(0.15)) {
      const mentioned = rng.pick(ctx.externalUsers);
      builder.mention(mentioned.username, mentioned.id);
    }
    if (rng.chance(0.2)) builder.hashtag(rng);
    if (rng.chance(0.15)) builder.link(rng);
    if (kind === 'quote') {
      const quoted = externalTweet(ctx, k, createdAtMs);
      referenced = { type: 'quoted', tweet: quoted };
      builder.link(rng, `https://twitter.com/${quoted.author.username}/status/${quoted.id}`);
    }
    const plan = mediaPlan(seedHash, account.index, k);
    media = plan.map((type, position) =>
      generateMedia(seedHash, account.index, k, position, type, createdAtMs),
    );
    const first = media[0];
    if (first !== undefined) {
      const kindPath = first.type === 'photo' ? 'photo' : 'video';
      builder.link(
        rng,
        `https://twitter.com/${account.username}/status/${id}/${kindPath}/1`,
        first.mediaKey,
      );
    }
    if (isNote && builder.text.length > NOTE_LIMIT) {
      note = { text: builder.text, entities: builder.entities };
    }
  }

  const metricsFinal = finalMetrics(rng, account.followersBase, kind);
  // A video cannot be watched more often than the tweet was seen.
  media = media.map((item) =>
    item.viewsFinal === null
      ? item
      : { ...item, viewsFinal: Math.min(item.viewsFinal, metricsFinal.impression_count) },
  );
  const text = note === null ? builder.text : `${builder.text.slice(0, NOTE_LIMIT - 1)}…`;
  const entities =
    note === null ? builder.entities : entitiesWithin(builder.entities, NOTE_LIMIT - 1);
  return {
    id,
    createdAtMs,
    author: account,
    kind,
    text,
    entities,
    note,
    lang,
    source: rng.pick(SOURCES),
    possiblySensitive: rng.chance(0.02),
    replySettings: rng.chance(0.9)
      ? 'everyone'
      : rng.pick(['following', 'mentionedUsers'] as const),
    conversationId,
    inReplyToUserId,
    referenced,
    media,
    metricsFinal,
    metricsTauMs: rng.int(3_600_000, 12 * 3_600_000),
  };
}
