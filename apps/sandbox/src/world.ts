import {
  type AccountShape,
  generateAccount,
  generateExternalUser,
  type SandboxAccount,
  type SandboxUser,
} from './accounts.ts';
import { hashString, Rng } from './prng.ts';
import { snowflakeAt, snowflakeTimeMs } from './snowflake.ts';
import { generateTweet, metricsTime, type SandboxTweet, type TweetContext } from './tweets.ts';

/**
 * The synthetic world: accounts (profiles made eagerly, they are cheap), their timelines
 * (made on first use, so 10,000 accounts start at once) and tweets (made on demand and kept
 * in a bounded cache). Everything derives from the seed and the sandbox epoch.
 */
const DAY_MS = 86_400_000;
const EXTERNAL_USERS = 64;

/**
 * An account's tweet times, oldest first; grows as the sandbox clock moves on. Ids are not
 * stored: the k-th id is the snowflake of the k-th time with the account and k in its low
 * bits, so comparing ids is comparing (time, low bits) and needs no bigint per tweet.
 */
export class Timeline {
  readonly times: number[] = [];
  /** Generated tweets by k (a bounded cache kept by World). */
  readonly tweets: (SandboxTweet | undefined)[] = [];
  private nextTime: number;

  constructor(
    private readonly seedHash: number,
    readonly account: SandboxAccount,
    epochMs: number,
  ) {
    const count = account.historyCount;
    const rng = Rng.of(seedHash, 5, account.index);
    const gaps = new Array<number>(count);
    let span = 0;
    for (let i = 0; i < count; i++) {
      const gap = Math.max(1_000, Math.round(rng.exponential(account.historyGapMs)));
      gaps[i] = gap;
      span += gap;
    }
    // A long history is squeezed so it never starts before the account existed.
    const room = (epochMs - account.createdAtMs) * 0.95;
    const squeeze = span > room ? room / span : 1;
    let time = epochMs;
    const times = new Array<number>(count);
    for (let i = count - 1; i >= 0; i--) {
      time -= Math.max(1, Math.floor((gaps[i] ?? 1_000) * squeeze));
      times[i] = time;
    }
    this.times = times;
    this.nextTime =
      account.activity === 'silent' ? Number.POSITIVE_INFINITY : epochMs + this.gap(count);
  }

  private low22(k: number): number {
    return ((this.account.index & 0x3fff) << 8) | (k & 0xff);
  }

  idAt(k: number): bigint {
    return snowflakeAt(this.times[k] ?? 0, this.low22(k));
  }

  idStringAt(k: number): string {
    return this.idAt(k).toString();
  }

  private gap(k: number): number {
    const rng = Rng.of(this.seedHash, 6, this.account.index, k);
    if (this.account.activity === 'bursty' && !rng.chance(1 / this.account.burstSize)) {
      return rng.int(20_000, 120_000);
    }
    return Math.max(1_000, Math.round(rng.exponential(this.account.newTweetGapMs)));
  }

  /** Number of tweets that exist at `nowMs` (generating the new ones up to then). */
  countAt(nowMs: number): number {
    while (this.nextTime <= nowMs) {
      this.times.push(this.nextTime);
      this.nextTime += this.gap(this.times.length);
    }
    let lo = 0;
    let hi = this.times.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.times[mid] ?? 0) <= nowMs) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** -1, 0 or 1 as the k-th id is below, equal to or above (time, low). */
  private compare(k: number, time: number, low: number): number {
    const own = this.times[k] ?? 0;
    if (own !== time) return own < time ? -1 : 1;
    const ownLow = this.low22(k);
    return ownLow === low ? 0 : ownLow < low ? -1 : 1;
  }

  /** Index of the first tweet with id > `id` (`orEqual`: id >= `id`) among the first `count`. */
  firstAbove(id: bigint, count: number, orEqual = false): number {
    const time = snowflakeTimeMs(id);
    const low = Number(id & 0x3fffffn);
    let lo = 0;
    let hi = count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const order = this.compare(mid, time, low);
      if (order < 0 || (order === 0 && !orEqual)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Index of the first tweet with id >= `id`. */
  firstAtOrAbove(id: bigint, count: number): number {
    return this.firstAbove(id, count, true);
  }

  /** Index of the first tweet created at or after `timeMs`. */
  firstAtOrAfterTime(timeMs: number, count: number): number {
    let lo = 0;
    let hi = count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.times[mid] ?? 0) < timeMs) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

export interface WorldOptions {
  seed: string;
  accounts: number;
  epochMs: number;
  shape: AccountShape;
  /** Tweets kept generated in memory (they are regenerated identically when evicted). */
  tweetCacheSize: number;
}

export class World {
  readonly seedHash: number;
  readonly epochMs: number;
  readonly accounts: readonly SandboxAccount[];
  readonly externalUsers: readonly SandboxUser[];
  private readonly byId = new Map<string, SandboxAccount>();
  private readonly byUsername = new Map<string, SandboxAccount>();
  private readonly externalById = new Map<string, SandboxUser>();
  private readonly timelines = new Map<number, Timeline>();
  private readonly contexts = new Map<number, TweetContext>();
  /** Generated tweets in order, for eviction; entries before `evictedUpTo` are gone. */
  private generated: ({ timeline: Timeline; k: number } | undefined)[] = [];
  private evictedUpTo = 0;
  private readonly tweetCacheSize: number;

  constructor(options: WorldOptions) {
    this.seedHash = hashString(options.seed);
    this.epochMs = options.epochMs;
    this.tweetCacheSize = options.tweetCacheSize;
    const accounts: SandboxAccount[] = [];
    for (let index = 0; index < options.accounts; index++) {
      const account = generateAccount(this.seedHash, index, options.epochMs, options.shape);
      accounts.push(account);
      this.byId.set(account.id, account);
      this.byUsername.set(account.username.toLowerCase(), account);
    }
    this.accounts = accounts;
    this.externalUsers = Array.from({ length: EXTERNAL_USERS }, (_, slot) =>
      generateExternalUser(this.seedHash, slot, options.epochMs),
    );
    for (const user of this.externalUsers) this.externalById.set(user.id, user);
  }

  accountById(id: string): SandboxAccount | undefined {
    return this.byId.get(id);
  }

  externalUserById(id: string): SandboxUser | undefined {
    return this.externalById.get(id);
  }

  accountByUsername(username: string): SandboxAccount | undefined {
    return this.byUsername.get(username.toLowerCase());
  }

  timeline(account: SandboxAccount): Timeline {
    let timeline = this.timelines.get(account.index);
    if (timeline === undefined) {
      timeline = new Timeline(this.seedHash, account, this.epochMs);
      this.timelines.set(account.index, timeline);
    }
    return timeline;
  }

  tweet(account: SandboxAccount, k: number): SandboxTweet {
    const timeline = this.timeline(account);
    const cached = timeline.tweets[k];
    if (cached !== undefined) return cached;
    const tweet = generateTweet(this.context(account), k);
    // Bounded memory: the oldest generated tweets go first (and come back identical).
    if (this.generated.length - this.evictedUpTo >= this.tweetCacheSize) {
      const oldest = this.generated[this.evictedUpTo];
      this.generated[this.evictedUpTo] = undefined;
      this.evictedUpTo += 1;
      if (oldest !== undefined) oldest.timeline.tweets[oldest.k] = undefined;
      if (this.evictedUpTo > 65_536) {
        this.generated = this.generated.slice(this.evictedUpTo);
        this.evictedUpTo = 0;
      }
    }
    timeline.tweets[k] = tweet;
    this.generated.push({ timeline, k });
    return tweet;
  }

  private context(account: SandboxAccount): TweetContext {
    let context = this.contexts.get(account.index);
    if (context === undefined) {
      const timeline = this.timeline(account);
      context = {
        seedHash: this.seedHash,
        account,
        timeOf: (k) => timeline.times[k] ?? this.epochMs,
        idOf: (k) => timeline.idStringAt(k),
        tweetOf: (k) => this.tweet(account, k),
        externalUsers: this.externalUsers,
      };
      this.contexts.set(account.index, context);
    }
    return context;
  }

  /** Followers and tweet count grow with sandbox time (user metrics history). */
  userMetricsAt(user: SandboxUser, nowMs: number, tweetCount: number) {
    const days = Math.max(0, (metricsTime(nowMs) - this.epochMs) / DAY_MS);
    return {
      followers_count: user.followersBase + Math.floor(user.followersPerDay * days),
      following_count: user.followingCount,
      tweet_count: user.olderTweetCount + tweetCount,
      listed_count: user.listedCount,
      like_count: user.likeCount,
    };
  }
}
