import type { CrawlClient, FetchedPage, TimelinePageRequest } from '@birdfeed/crawl';
import type { CanonicalPage, ProviderName } from '@birdfeed/model';
import {
  AccountUnavailableError,
  BadRequestError,
  InvalidCursorError,
  InvalidResponseError,
  RateLimitedError,
} from '@birdfeed/providers';

/**
 * A scripted provider for the crawl step's checkpoint semantics: a timeline of ids served
 * newest first, X-style (since_id and until_id honoured, numeric offset cursors) or
 * agntdata-style (no since_id). Faults are queued per request. The sandbox tests cover the
 * real HTTP path.
 */
export interface FakeTimelineOptions {
  provider: ProviderName;
  userId: string;
  ids: bigint[];
  pageSize: number;
  /** Listed first on the first page of every window, whatever its age (a pinned tweet). */
  pinned?: bigint;
  /** X: the newest N tweets only. */
  cap?: number;
}

export type Fault =
  /** This request is served as usual (the faults after it hit the later requests). */
  | { kind: 'none' }
  | { kind: 'invalid-cursor' }
  | { kind: 'unavailable'; reason: 'suspended' | 'not_found' }
  | { kind: 'invalid-body' }
  | { kind: 'empty-page' }
  | { kind: 'rate-limited' }
  /** A 400 that is not about the cursor (X refusing a parameter). */
  | { kind: 'bad-request' }
  /** A body that passes the schema but has a value no column takes (a fractional count). */
  | { kind: 'unstorable' };

export class FakeTimeline implements CrawlClient {
  readonly provider: ProviderName;
  readonly requests: TimelinePageRequest[] = [];
  readonly faults: Fault[] = [];
  ids: bigint[];
  private readonly options: FakeTimelineOptions;

  constructor(options: FakeTimelineOptions) {
    this.options = options;
    this.provider = options.provider;
    this.ids = [...options.ids].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
  }

  add(...ids: bigint[]): void {
    this.ids = [...this.ids, ...ids].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
  }

  private barrier: { size: number; waiting: Array<() => void> } | null = null;

  /** The next `size` requests wait for each other, so their steps run truly at once. */
  holdUntil(size: number): void {
    this.barrier = { size, waiting: [] };
  }

  async fetchTimelinePage(request: TimelinePageRequest): Promise<FetchedPage> {
    this.requests.push({ ...request, signal: undefined });
    const barrier = this.barrier;
    if (barrier !== null) {
      await new Promise<void>((resolve) => {
        barrier.waiting.push(resolve);
        if (barrier.waiting.length >= barrier.size) {
          this.barrier = null;
          for (const release of barrier.waiting) release();
        }
      });
    }
    const fault = this.faults.shift();
    if (fault?.kind === 'invalid-cursor') {
      throw new InvalidCursorError(this.provider, 'pagination token expired', { status: 400 });
    }
    if (fault?.kind === 'bad-request') {
      throw new BadRequestError(this.provider, 'x /2/users/:id/tweets → 400: invalid until_id', {
        status: 400,
      });
    }
    if (fault?.kind === 'unavailable') {
      throw new AccountUnavailableError(
        this.provider,
        `user ${this.options.userId} ${fault.reason}`,
        {
          status: 404,
          reason: fault.reason,
          userId: this.options.userId,
        },
      );
    }
    if (fault?.kind === 'rate-limited') {
      throw new RateLimitedError(this.provider, 'too many requests', {
        status: 429,
        resetAt: new Date(Date.now() + 1_000),
      });
    }
    if (fault?.kind === 'invalid-body') {
      const error = new InvalidResponseError(this.provider, 'data[0].id: expected string', {
        status: 200,
        path: 'data[0].id',
        rawBody: '{"data":[{"id":1}]}',
      });
      // As the agntdata client does: a 200 is billed even when its body fails the schema.
      if (this.provider === 'agntdata') error.costCents = 1;
      throw error;
    }
    let visible = this.options.cap === undefined ? this.ids : this.ids.slice(0, this.options.cap);
    const oldestReachable = visible.at(-1);
    // X: until_id is exclusive; one older than every reachable tweet is "forced to the most
    // recent ID available" (the docs), i.e. no bound, as the sandbox does it.
    if (this.provider === 'x' && request.untilId != null && oldestReachable !== undefined) {
      const until = BigInt(request.untilId);
      if (until >= oldestReachable) visible = visible.filter((id) => id < until);
    }
    if (this.provider === 'x' && request.sinceId != null) {
      const since = BigInt(request.sinceId);
      visible = visible.filter((id) => id > since);
    }
    const offset = request.cursor == null ? 0 : Number(request.cursor);
    const size = request.maxResults ?? this.options.pageSize;
    const slice = fault?.kind === 'empty-page' ? [] : visible.slice(offset, offset + size);
    const nextOffset = fault?.kind === 'empty-page' ? offset : offset + slice.length;
    const next = nextOffset < visible.length ? String(nextOffset) : null;
    const pinned = this.options.pinned;
    const ids = (
      pinned !== undefined && request.cursor == null
        ? [pinned, ...slice.filter((id) => id !== pinned)]
        : slice
    ).map(String);
    const page: CanonicalPage = {
      provider: this.provider,
      userId: this.options.userId,
      observedAt: new Date(),
      tweets: ids.map((id) => ({
        id,
        authorId: this.options.userId,
        text: `tweet ${id}`,
        createdAt: new Date(1_700_000_000_000),
        fromTimeline: true,
        ...(fault?.kind === 'unstorable' ? { likeCount: 1.5 } : {}),
      })),
      users: [{ id: this.options.userId, username: `user${this.options.userId}` }],
      media: [],
      tweetMedia: [],
      cursor: { next },
      newestId: ids.reduce<string | null>(
        (a, id) => (a === null || BigInt(id) > BigInt(a) ? id : a),
        null,
      ),
      oldestId: ids.reduce<string | null>(
        (a, id) => (a === null || BigInt(id) < BigInt(a) ? id : a),
        null,
      ),
      lastId: ids.at(-1) ?? null,
      resultCount: ids.length,
      partialErrors: [],
    };
    return {
      page,
      rawBody: JSON.stringify({ ids, next }),
      status: 200,
      requestUrl: `/fake/${this.options.userId}?cursor=${request.cursor ?? ''}`,
      rateLimit: null,
      costCents: this.provider === 'agntdata' ? 1 : 0,
      durationMs: 1,
    };
  }
}
