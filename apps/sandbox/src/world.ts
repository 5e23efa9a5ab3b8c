import {
  type AccountShape,
  generateAccount,
  generateExternalUser,
  type SandboxAccount,
  type SandboxUser,
} from './accounts.ts';
import { hashString, Rng } from './prng.ts';
import { snowflakeAt } from './snowflake.ts';
import { generateTweet, type SandboxTweet, type TweetContext } from './tweets.ts';

/**
 * The synthetic world: accounts (profiles made eagerly, they are cheap), their timelines
 * (made on first use, so 10,000 accounts start at once) and tweets (made on demand and kept
 * in a bounded cache). Everything derives from the seed and the sandbox epoch.
 */
const DAY_MS = 86_400_000;
const EXTERNAL_USERS = 64;

/** An account's tweet times and ids, oldest first; grows as the sandbox clock moves on. */
export class Timeline {
  readonly times: number[] = [];
  readonly ids: bigint[] = [];
  readonly idStrings: string[] = [];
  private nextTime: number;

  constructor(
    private readonly seedHash: number,
    readonly account: SandboxAccount,
    epochMs: number,
  ) {
    const count = account.historyCount;
    const rng = Rng.of(seedHash, 5, account.index);
    const gaps: number[] = [];
    let span = 0;
    for (let i = 0; i < count; i++) {
      const gap = Math.max(1_000, Math.round(rng.exponential(account.historyGapMs)));
      gaps.push(gap);
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
    for (let k = 0; k < count; k++) this.push(times[k] ?? epochMs);
    this.nextTime =
      account.activity === 'silent' ? Number.POSITIVE_INFINITY : epochMs + this.gap(count);
  }

  private push(time: number): void {
    const k = this.times.length;
    const low22 = ((this.account.index & 0x3fff) << 8) | (k & 0xff);
    const id = snowflakeAt(time, low22);
    this.times.push(time);
    this.ids.push(id);
    this.idStrings.push(id.toString());
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
      this.push(this.nextTime);
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

  /** Index of the first tweet with id > `id` (ids ascend with k). */
  firstAbove(id: bigint, count: number): number {
    let lo = 0;
    let hi = count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.ids[mid] ?? 0n) <= id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Index of the first tweet with id >= `id`. */
  firstAtOrAbove(id: bigint, count: number): number {
    let lo = 0;
    let hi = count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.ids[mid] ?? 0n) < id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
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
  private readonly timelines = new Map<number, Timeline>();
  private readonly contexts = new Map<number, TweetContext>();
  private readonly tweetCache = new Map<string, SandboxTweet>();
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
  }

  accountById(id: string): SandboxAccount | undefined {
    return this.byId.get(id);
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
    const key = `${account.index}:${k}`;
    const cached = this.tweetCache.get(key);
    if (cached !== undefined) return cached;
    const tweet = generateTweet(this.context(account), k);
    if (this.tweetCache.size >= this.tweetCacheSize) {
      const oldest = this.tweetCache.keys().next();
      if (oldest.done !== true) this.tweetCache.delete(oldest.value);
    }
    this.tweetCache.set(key, tweet);
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
        idOf: (k) => timeline.idStrings[k] ?? '0',
        tweetOf: (k) => this.tweet(account, k),
        externalUsers: this.externalUsers,
      };
      this.contexts.set(account.index, context);
    }
    return context;
  }

  /** Followers and tweet count grow with sandbox time (user metrics history). */
  userMetricsAt(user: SandboxUser, nowMs: number, tweetCount: number) {
    const days = Math.max(0, (nowMs - this.epochMs) / DAY_MS);
    return {
      followers_count: user.followersBase + Math.floor(user.followersPerDay * days),
      following_count: user.followingCount,
      tweet_count: user.olderTweetCount + tweetCount,
      listed_count: user.listedCount,
      like_count: user.likeCount,
    };
  }
}
