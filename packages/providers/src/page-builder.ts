import type {
  CanonicalMedia,
  CanonicalPage,
  CanonicalTweet,
  CanonicalUser,
  ProviderName,
  SnowflakeId,
  TweetMediaLink,
} from '@birdfeed/model';

export interface NormalizeContext {
  /** The account whose timeline the page belongs to. */
  userId: string;
  /** When the page was fetched: the observed_at of every metric on it. */
  observedAt: Date;
}

/**
 * Collects the rows of one page and folds duplicates: the same user, tweet or media can arrive
 * several times in one body (every result carries its author; a quoted tweet can also be a
 * result). A later sighting only fills fields the earlier one left undefined, except that a
 * timeline row always wins over an embedded copy of the same tweet.
 */
export class PageBuilder {
  private readonly tweets = new Map<SnowflakeId, CanonicalTweet>();
  private readonly users = new Map<SnowflakeId, CanonicalUser>();
  private readonly media = new Map<string, CanonicalMedia>();
  private readonly links = new Map<string, TweetMediaLink>();

  addTweet(tweet: CanonicalTweet): void {
    const seen = this.tweets.get(tweet.id);
    if (seen === undefined) {
      this.tweets.set(tweet.id, tweet);
    } else if (tweet.fromTimeline && !seen.fromTimeline) {
      this.tweets.set(tweet.id, fillUndefined(tweet, seen));
    } else {
      this.tweets.set(tweet.id, fillUndefined(seen, tweet));
    }
  }

  addUser(user: CanonicalUser): void {
    const seen = this.users.get(user.id);
    this.users.set(user.id, seen === undefined ? user : fillUndefined(seen, user));
  }

  addMedia(media: CanonicalMedia): void {
    const seen = this.media.get(media.mediaKey);
    this.media.set(media.mediaKey, seen === undefined ? media : fillUndefined(seen, media));
  }

  hasMedia(mediaKey: string): boolean {
    return this.media.has(mediaKey);
  }

  addLink(link: TweetMediaLink): void {
    this.links.set(`${link.tweetId}\u0000${link.mediaKey}`, link);
  }

  build(
    provider: ProviderName,
    ctx: NormalizeContext,
    page: {
      timelineIds: readonly SnowflakeId[];
      cursor: string | null;
      resultCount: number;
      partialErrors: unknown[];
    },
  ): CanonicalPage {
    let newest: bigint | null = null;
    let oldest: bigint | null = null;
    for (const id of page.timelineIds) {
      const value = BigInt(id);
      if (newest === null || value > newest) newest = value;
      if (oldest === null || value < oldest) oldest = value;
    }
    return {
      provider,
      userId: ctx.userId,
      observedAt: ctx.observedAt,
      tweets: [...this.tweets.values()],
      users: [...this.users.values()],
      media: [...this.media.values()],
      tweetMedia: [...this.links.values()],
      cursor: { next: page.cursor },
      newestId: newest === null ? null : newest.toString(),
      oldestId: oldest === null ? null : oldest.toString(),
      lastId: page.timelineIds.at(-1) ?? null,
      resultCount: page.resultCount,
      partialErrors: page.partialErrors,
    };
  }
}

/** `primary` with each of its undefined fields taken from `secondary`. */
function fillUndefined<T extends object>(primary: T, secondary: T): T {
  const out: Record<string, unknown> = { ...(primary as Record<string, unknown>) };
  const from = secondary as Record<string, unknown>;
  // Own keys without Object.entries' [key, value] pair per field (garbage on every tweet).
  for (const key of Object.keys(from)) {
    const value = from[key];
    if (out[key] === undefined && value !== undefined) out[key] = value;
  }
  return out as unknown as T;
}

/** Drop keys whose value is undefined, so a printed page shows only what the provider said. */
export function compact<T extends object>(value: T): T {
  const out: Record<string, unknown> = {};
  const from = value as Record<string, unknown>;
  for (const key of Object.keys(from)) {
    const field = from[key];
    if (field !== undefined) out[key] = field;
  }
  return out as T;
}
