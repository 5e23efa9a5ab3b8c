import type { TimelineClient } from '@birdfeed/providers';

export type { FetchedPage, RateLimitInfo, TimelinePageRequest } from '@birdfeed/providers';

/**
 * The slice of `@birdfeed/providers`' TimelineClient the crawl step uses: no `close()`, because
 * whoever made the client closes it. A real client fits, and so does a test's fake.
 */
export type CrawlClient = Pick<TimelineClient, 'provider' | 'fetchTimelinePage'>;
