import { describe, expect, it } from 'vitest';
import { listFixtureFiles, readFixture } from '../test/fixtures.ts';
import {
  normalizeAgntdataMedias,
  parseAgntdataDate,
  parseAgntdataMedias,
} from './agntdata-normalize.ts';
import { normalizeRaw } from './normalize-raw.ts';
import { readRecordings } from './recordings.ts';

const observedAt = new Date('2026-01-01T00:00:00Z');
const DOCS = 'agntdata/user_medias_docs_example.json';

function docsBody(): { results: Array<Record<string, unknown>>; continuation_token: string } {
  return JSON.parse(readFixture(DOCS));
}

describe('agntdata → canonical page', () => {
  const page = normalizeRaw('agntdata', readFixture(DOCS), { userId: '44196397', observedAt });

  it("keeps the first photo's faces in all 4 sizes and its 5 focus rects exactly", () => {
    const media = page.media.find((m) => m.mediaKey === '3_1925089019097927680');
    expect(media).toBeDefined();
    expect(media?.faces).toEqual({
      orig: [
        { x: 629, y: 685, w: 98, h: 98 },
        { x: 632, y: 895, w: 144, h: 144 },
      ],
      large: [
        { x: 629, y: 685, w: 98, h: 98 },
        { x: 632, y: 895, w: 144, h: 144 },
      ],
      medium: [
        { x: 442, y: 481, w: 68, h: 68 },
        { x: 444, y: 629, w: 101, h: 101 },
      ],
      small: [
        { x: 251, y: 273, w: 39, h: 39 },
        { x: 252, y: 357, w: 57, h: 57 },
      ],
    });
    expect(media?.focusRects).toEqual([
      { x: 0, y: 1013, w: 1100, h: 616 },
      { x: 0, y: 605, w: 1100, h: 1100 },
      { x: 0, y: 451, w: 1100, h: 1254 },
      { x: 128, y: 0, w: 853, h: 1705 },
      { x: 0, y: 0, w: 1100, h: 1705 },
    ]);
    expect(media).toMatchObject({
      type: 'photo',
      url: 'https://pbs.twimg.com/media/GrdKQ2hWUAAdyMM.jpg',
      width: 1100,
      height: 1705,
    });
    expect(media?.sizes?.thumb).toEqual({ h: 150, w: 150, resize: 'crop' });
    // agntdata has no alt text: undefined, so the merge keeps X's.
    expect(media?.altText).toBeUndefined();
  });

  it('makes tweets, the author, links and the page window', () => {
    expect(page.tweets.map((t) => t.id)).toEqual([
      '1925089021710983421',
      '1925041236596986027',
      '1925034512011997678',
    ]);
    expect(page.tweets[0]).toMatchObject({
      authorId: '44196397',
      createdAt: new Date('2025-05-21T07:19:23Z'),
      text: 'https://t.co/3ERunjJrHf',
      lang: 'zxx',
      conversationId: '1925089021710983421',
      inReplyToTweetId: null,
      quotedTweetId: null,
      retweetedTweetId: null,
      references: [],
      likeCount: 90156,
      retweetCount: 8099,
      replyCount: 2756,
      quoteCount: 211,
      bookmarkCount: 1258,
      viewCount: 6897282,
      source: 'Twitter for iPhone',
      fromTimeline: true,
    });
    expect(page.users).toHaveLength(1);
    expect(page.users[0]).toMatchObject({
      id: '44196397',
      username: 'elonmusk',
      followersCount: 219778839,
      followingCount: 1134,
      tweetCount: 78883,
      listedCount: 162329,
      likeCount: 147042,
      verified: true,
      verifiedType: 'blue',
      createdAt: new Date('2009-06-02T20:12:29Z'),
    });
    expect(page.users[0]?.protected).toBeUndefined();
    expect(page.tweetMedia).toEqual([
      { tweetId: '1925089021710983421', mediaKey: '3_1925089019097927680', position: 0 },
      { tweetId: '1925041236596986027', mediaKey: '3_1925041233497391104', position: 0 },
      { tweetId: '1925034512011997678', mediaKey: '3_1925034505854722048', position: 0 },
    ]);
    expect(page.cursor.next).toBe('DAABCgABGrfEhOE___0KAAIatxiwfNex7ggAAwAAAAIAAA');
    expect(page.newestId).toBe('1925089021710983421');
    expect(page.oldestId).toBe('1925034512011997678');
    expect(page.resultCount).toBe(3);
    expect(page.observedAt).toBe(observedAt);
  });

  it('gives the same page from the enveloped body, and reports its cost', () => {
    const raw = JSON.stringify({ success: true, data: docsBody(), meta: { costCents: 2 } });
    const parsed = parseAgntdataMedias(raw);
    expect(parsed.enveloped).toBe(true);
    expect(parsed.costCents).toBe(2);
    expect(normalizeRaw('agntdata', raw, { userId: '44196397', observedAt })).toEqual(page);
  });

  it('turns retweet_status and quoted_status into rows that are not from the timeline', () => {
    const body = docsBody();
    const [first, second] = body.results;
    const quoted = { ...second, tweet_id: '1900000000000000001', retweet_status: undefined };
    body.results = [
      {
        ...first,
        tweet_id: '1925089021710983999',
        quoted_status_id: '1900000000000000001',
        quoted_status: quoted,
        in_reply_to_status_id: '1800000000000000000',
      },
      // The same tweet also as a timeline result: the timeline row wins.
      { ...second, retweet_status: { ...first, text: 'embedded copy' } },
    ];
    const got = normalizeRaw('agntdata', JSON.stringify(body), { userId: '44196397', observedAt });
    const byId = new Map(got.tweets.map((t) => [t.id, t]));
    expect(byId.get('1900000000000000001')?.fromTimeline).toBe(false);
    expect(byId.get('1925089021710983999')).toMatchObject({
      fromTimeline: true,
      quotedTweetId: '1900000000000000001',
      inReplyToTweetId: '1800000000000000000',
      retweetedTweetId: null,
      references: [
        { type: 'replied_to', id: '1800000000000000000' },
        { type: 'quoted', id: '1900000000000000001' },
      ],
    });
    // first's own id arrives only embedded (as a retweet_status): fromTimeline false.
    expect(byId.get('1925089021710983421')).toMatchObject({
      fromTimeline: false,
      text: 'embedded copy',
    });
    expect(got.newestId).toBe('1925089021710983999');
    expect(got.oldestId).toBe('1925041236596986027');
    expect(got.resultCount).toBe(2);
    // The embedded quote brings its media along.
    expect(got.tweetMedia).toContainEqual({
      tweetId: '1900000000000000001',
      mediaKey: '3_1925041233497391104',
      position: 0,
    });
  });

  it('keeps a user id above 2^53 exact', () => {
    const body = docsBody();
    const big = '1234567890123456789';
    expect(BigInt(big) > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
    for (const result of body.results) (result.user as Record<string, unknown>).user_id = big;
    const got = normalizeRaw('agntdata', JSON.stringify(body), { userId: big, observedAt });
    expect(got.users.map((u) => u.id)).toEqual([big]);
    expect(got.tweets.every((t) => t.authorId === big)).toBe(true);
    expect(got.userId).toBe(big);
  });

  it("spells verified_type as X v2 does (agntdata's Business, Government → business, government)", () => {
    for (const [given, want] of [
      ['Business', 'business'],
      ['Government', 'government'],
    ] as const) {
      const body = docsBody();
      for (const result of body.results) {
        Object.assign(result.user as Record<string, unknown>, { verified_type: given });
      }
      const got = normalizeRaw('agntdata', JSON.stringify(body), {
        userId: '44196397',
        observedAt,
      });
      expect(got.users.map((u) => u.verifiedType)).toEqual([want]);
    }
  });

  it('keeps the token of an empty page (the crawl step bounds how many it follows)', () => {
    const got = normalizeAgntdataMedias(
      { results: [], continuation_token: 'still-here' },
      { userId: '1', observedAt },
    );
    expect(got.cursor.next).toBe('still-here');
    expect(got.newestId).toBeNull();
    expect(got.tweets).toEqual([]);
  });

  it('derives a media key from id_str, and reads video info', () => {
    const body = docsBody();
    const media = (body.results[0]!.extended_entities as { media: Array<Record<string, unknown>> })
      .media[0]!;
    delete media.media_key;
    delete media.features;
    delete media.original_info;
    media.type = 'video';
    media.video_info = {
      duration_millis: 12000,
      variants: [{ url: 'https://v/1.mp4', content_type: 'video/mp4', bitrate: 832000 }],
    };
    const got = normalizeRaw('agntdata', JSON.stringify(body), { userId: '44196397', observedAt });
    const video = got.media.find((m) => m.mediaKey === '7_1925089019097927680');
    expect(video).toMatchObject({
      type: 'video',
      durationMs: 12000,
      previewImageUrl: 'https://pbs.twimg.com/media/GrdKQ2hWUAAdyMM.jpg',
      variants: [{ url: 'https://v/1.mp4', contentType: 'video/mp4', bitRate: 832000 }],
    });
    expect(video?.faces).toBeUndefined();
    expect(video?.focusRects).toBeUndefined();
    expect(video?.url).toBeUndefined();
    // No view count reported anywhere: none invented.
    expect(video?.viewCount).toBeUndefined();
  });

  it("gives a video the view count: its own mediaStats, else the tweet's video_view_count", () => {
    const body = docsBody();
    const result = body.results[0] as Record<string, unknown>;
    const media = (result.extended_entities as { media: Array<Record<string, unknown>> }).media;
    const first = media[0]!;
    first.type = 'video';
    first.media_key = '7_1925089019097927680';
    result.video_view_count = 1234;
    const one = normalizeRaw('agntdata', JSON.stringify(body), { userId: '44196397', observedAt });
    expect(one.media.find((m) => m.mediaKey === '7_1925089019097927680')?.viewCount).toBe(1234);
    // The video's own count wins over the tweet's.
    first.mediaStats = { viewCount: 99 };
    const own = normalizeRaw('agntdata', JSON.stringify(body), { userId: '44196397', observedAt });
    expect(own.media.find((m) => m.mediaKey === '7_1925089019097927680')?.viewCount).toBe(99);
    // Two videos and one tweet-level count: whose it is is unknown, so neither gets it.
    delete first.mediaStats;
    media.push({ ...first, media_key: '7_1925089019097927681', id_str: '1925089019097927681' });
    const two = normalizeRaw('agntdata', JSON.stringify(body), { userId: '44196397', observedAt });
    expect(two.media.filter((m) => m.type === 'video').map((m) => m.viewCount)).toEqual([
      undefined,
      undefined,
    ]);
  });

  it('parses the legacy date format with its offset', () => {
    expect(parseAgntdataDate('Wed May 21 07:19:23 +0000 2025').toISOString()).toBe(
      '2025-05-21T07:19:23.000Z',
    );
    expect(parseAgntdataDate('Tue Jun 02 20:12:29 -0230 2009').toISOString()).toBe(
      '2009-06-02T22:42:29.000Z',
    );
    expect(() => parseAgntdataDate('2025-05-21')).toThrow(RangeError);
  });
});

describe('X → canonical page', () => {
  it('refuses a date that does not exist (Feb 30) instead of rolling it over, naming where', () => {
    const x = readFixture('x-v2/twitter-api-py/user_tweets_all_fields.json').replace(
      '"2021-03-23T16:59:18.000Z"',
      '"2021-02-30T16:59:18.000Z"',
    );
    expect(() => normalizeRaw('x', x, { userId: '2244994945', observedAt })).toThrow(
      /created_at.*real day/,
    );
    const agntdata = readFixture(DOCS).replace(
      '"Wed May 21 07:19:23 +0000 2025"',
      '"Wed Feb 30 07:19:23 +0000 2025"',
    );
    expect(agntdata).not.toBe(readFixture(DOCS));
    expect(() => normalizeRaw('agntdata', agntdata, { userId: '44196397', observedAt })).toThrow(
      /results\[0\]\.creation_date.*real day/,
    );
  });

  it('stores a NUL character as U+FFFD (Postgres cannot hold it); an escaped backslash before u0000 stays text', () => {
    const fixture = readFixture('x-v2/twitter-api-py/user_tweets_all_fields.json');
    const withNul = fixture
      .replace('"Live now! ', '"Live\\u0000now! ')
      .replace('"Twitter Web App"', '"Web\\\\u0000App"');
    expect(withNul).not.toBe(fixture);
    const page = normalizeRaw('x', withNul, { userId: '2244994945', observedAt });
    const first = page.tweets.find((t) => t.id === '1374405406261268481');
    expect(first?.text).toBe('Live\uFFFDnow! https://t.co/9BbWekeWq2');
    expect(first?.source).toBe('Web\\u0000App');
    expect(JSON.stringify(page)).not.toContain('\\u0000now');
  });

  it('normalizes a page with every field and expansion', () => {
    const page = normalizeRaw('x', readFixture('x-v2/twitter-api-py/user_tweets_all_fields.json'), {
      userId: '2244994945',
      observedAt,
    });
    const first = page.tweets.find((t) => t.id === '1374405406261268481');
    expect(first).toMatchObject({
      authorId: '2244994945',
      createdAt: new Date('2021-03-23T16:59:18.000Z'),
      text: 'Live now! https://t.co/9BbWekeWq2',
      lang: 'en',
      conversationId: '1374405406261268481',
      quotedTweetId: '1374104599456534531',
      inReplyToTweetId: null,
      retweetedTweetId: null,
      references: [{ type: 'quoted', id: '1374104599456534531' }],
      likeCount: 22,
      retweetCount: 5,
      replyCount: 2,
      quoteCount: 0,
      source: 'Twitter Web App',
      possiblySensitive: false,
      editHistoryTweetIds: ['1374405406261268481'],
      fromTimeline: true,
    });
    expect(first?.entities).toBeDefined();
    const included = page.tweets.filter((t) => !t.fromTimeline);
    expect(included.map((t) => t.id)).toEqual(['1371363033352638467']);
    expect(page.tweets.filter((t) => t.fromTimeline)).toHaveLength(5);
    expect(page.users.find((u) => u.id === '2244994945')).toMatchObject({
      username: 'TwitterDev',
      followersCount: 517602,
      followingCount: 2033,
      tweetCount: 3689,
      listedCount: 1732,
      verified: true,
      protected: false,
      location: '127.0.0.1',
      createdAt: new Date('2013-12-14T04:35:55.000Z'),
    });
    expect(page.cursor.next).toBe('7140dibdnow9c7btw3w3xyyhxcirw2ov9mjp7gczc93xu');
    expect(page.newestId).toBe('1374405406261268481');
    expect(page.oldestId).toBe('1372625612460810242');
    expect(page.resultCount).toBe(5);
  });

  it('normalizes video media with variants, duration and views, and no faces', () => {
    const page = normalizeRaw('x', readFixture('x-v2/twitwi/payload-v2-video.json'), {
      userId: '140776364',
      observedAt,
    });
    expect(page.media).toHaveLength(1);
    expect(page.media[0]).toMatchObject({
      mediaKey: '13_1656683977720094731',
      type: 'video',
      durationMs: 62229,
      viewCount: 5956,
      width: 1280,
      height: 720,
      previewImageUrl: 'https://pbs.twimg.com/media/Fv25ZRAWcAIQAGK.jpg',
    });
    expect(page.media[0]?.variants).toHaveLength(4);
    expect(page.media[0]?.variants?.[0]).toEqual({
      url: 'https://video.twimg.com/amplify_video/1656683977720094731/vid/1280x720/jKBosd0XYnY98HAD.mp4?tag=16',
      contentType: 'video/mp4',
      bitRate: 2176000,
    });
    expect(page.media[0]?.faces).toBeUndefined();
    expect(page.media[0]?.focusRects).toBeUndefined();
    expect(page.tweetMedia).toEqual([
      { tweetId: '1656684087061381121', mediaKey: '13_1656683977720094731', position: 0 },
    ]);
    expect(page.tweets[0]).toMatchObject({ impressionCount: 19422, viewCount: 19422 });
  });

  it('uses note_tweet.text over the truncated text and keeps bookmark counts', () => {
    const long = 'x'.repeat(400);
    const raw = JSON.stringify({
      data: [
        {
          id: '1234567890123456789',
          text: `${long.slice(0, 270)}… https://t.co/a`,
          note_tweet: { text: long },
          author_id: '9007199254740993',
          public_metrics: { like_count: 1, bookmark_count: 7, impression_count: 99 },
          attachments: { media_keys: ['3_1', '3_2'] },
        },
      ],
      includes: { media: [{ media_key: '3_2', type: 'photo', alt_text: 'a cat' }] },
      meta: { result_count: 1, newest_id: '1234567890123456789', oldest_id: '1234567890123456789' },
    });
    const page = normalizeRaw('x', raw, { userId: '9007199254740993', observedAt });
    expect(page.tweets[0]).toMatchObject({
      id: '1234567890123456789',
      text: long,
      authorId: '9007199254740993',
      bookmarkCount: 7,
      impressionCount: 99,
    });
    // References were not sent: unknown, not "none".
    expect(page.tweets[0]?.inReplyToTweetId).toBeUndefined();
    expect(page.tweetMedia).toEqual([
      { tweetId: '1234567890123456789', mediaKey: '3_1', position: 0 },
      { tweetId: '1234567890123456789', mediaKey: '3_2', position: 1 },
    ]);
    // 3_1 was not expanded: a row with only its key, so the link has its media.
    expect(page.media).toContainEqual({ mediaKey: '3_1' });
    expect(page.media).toContainEqual({ mediaKey: '3_2', type: 'photo', altText: 'a cat' });
  });

  it('keeps the cursor of an empty page and the errors beside the data', () => {
    const empty = normalizeRaw('x', '{"meta":{"result_count":0,"next_token":"abc"}}', {
      userId: '1',
      observedAt,
    });
    expect(empty).toMatchObject({ resultCount: 0, newestId: null, oldestId: null, tweets: [] });
    expect(empty.cursor.next).toBe('abc');

    const recordings = readRecordings(
      readFixture('x-v2/tidy_tweet/ObservatoryTeam.jsonl'),
      'ObservatoryTeam.jsonl',
    );
    expect(recordings).toHaveLength(3);
    const pages = recordings.map((r) => normalizeRaw('x', r.body, { userId: '1', observedAt }));
    expect(pages[0]?.partialErrors.length).toBeGreaterThan(0);
    expect(pages[0]?.cursor.next).toBe('7140dibdnow9c7btw3t4677nm46zsswn0rbyducm3z2us');
    // The last page has only a previous_token: no next page.
    expect(pages[2]?.cursor.next).toBeNull();
    expect(pages[2]?.newestId).toBe('1186129958566948864');
  });

  it('turns a user lookup into a page with users only', () => {
    const [recording] = readRecordings(readFixture('x-v2/tweepy/test_client_get_users.json'), 'u');
    const page = normalizeRaw('x', recording!.body, { userId: '783214', observedAt });
    expect(page.tweets).toEqual([]);
    expect(page.users).toEqual([
      { id: '783214', name: 'Twitter', username: 'Twitter' },
      { id: '2244994945', name: 'Twitter Dev', username: 'TwitterDev' },
    ]);
  });
});

describe('every fixture normalizes into consistent rows', () => {
  for (const file of listFixtureFiles()) {
    if (file.includes('postman') || file.includes('422')) continue;
    it(file, () => {
      for (const recording of readRecordings(readFixture(file), file)) {
        const provider = file.startsWith('agntdata/') ? 'agntdata' : 'x';
        const page = normalizeRaw(provider, recording.body, { userId: '1', observedAt });
        const tweetIds = new Set(page.tweets.map((t) => t.id));
        const mediaKeys = new Set(page.media.map((m) => m.mediaKey));
        expect(tweetIds.size).toBe(page.tweets.length);
        for (const link of page.tweetMedia) {
          expect(tweetIds.has(link.tweetId)).toBe(true);
          expect(mediaKeys.has(link.mediaKey)).toBe(true);
        }
        const timeline = page.tweets.filter((t) => t.fromTimeline);
        if (timeline.length > 0) {
          const ids = timeline
            .map((t) => BigInt(t.id))
            .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
          expect(page.newestId).toBe(ids.at(-1)?.toString());
          expect(page.oldestId).toBe(ids[0]?.toString());
        }
      }
    });
  }
});
