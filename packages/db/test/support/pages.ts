import type {
  CanonicalMedia,
  CanonicalPage,
  CanonicalTweet,
  CanonicalUser,
  ProviderName,
} from '@birdfeed/model';

/** Hand-built canonical pages for db tests, independent of any normalizer. */
export function page(
  overrides: Partial<CanonicalPage> & { provider?: ProviderName },
): CanonicalPage {
  const tweets = overrides.tweets ?? [];
  const own = tweets.filter((tweet) => tweet.fromTimeline).map((tweet) => tweet.id);
  return {
    provider: 'x',
    userId: '1',
    observedAt: new Date('2025-05-21T08:00:00Z'),
    tweets,
    users: [],
    media: [],
    tweetMedia: [],
    cursor: { next: null },
    newestId: own[0] ?? null,
    oldestId: own.at(-1) ?? null,
    resultCount: own.length,
    partialErrors: [],
    ...overrides,
  };
}

export function tweet(id: string, fields: Partial<CanonicalTweet> = {}): CanonicalTweet {
  return { id, fromTimeline: true, ...fields };
}

export function user(id: string, fields: Partial<CanonicalUser> = {}): CanonicalUser {
  return { id, ...fields };
}

export function photo(mediaKey: string, fields: Partial<CanonicalMedia> = {}): CanonicalMedia {
  return { mediaKey, type: 'photo', ...fields };
}
