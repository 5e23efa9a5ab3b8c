/**
 * A synthetic agntdata corpus shaped like the documented `POST /user/medias` response
 * (../../../../shared/fixtures/real/agntdata/user_medias_docs_example.json): every tweet has
 * one photo with 2 faces in each of 4 sizes (8) and 5 focus rects, authors drawn from a fixed
 * set. agntdata rather than X because only agntdata reports faces and focus rects.
 */
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => String(n).padStart(2, '0');

/** agntdata's `creation_date`: "Wed May 21 07:19:23 +0000 2025". */
function twitterDate(date: Date): string {
  return `${DAYS[date.getUTCDay()]} ${MONTHS[date.getUTCMonth()]} ${pad(date.getUTCDate())} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000 ${date.getUTCFullYear()}`;
}

/** A small deterministic PRNG (mulberry32), so every run writes the same corpus. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface CorpusOptions {
  tweets: number;
  authors: number;
  pageSize: number;
  /** Authors per page: pages mix authors, so parallel writers share author rows. */
  authorsPerPage: number;
}

const FIRST_TWEET_ID = 1925089021710983421n;
const FIRST_USER_ID = 1300000000000000000n; // above 2^53 on purpose
const FIRST_MEDIA_ID = 1925089019097927680n;

function user(index: number, rand: () => number) {
  const id = (FIRST_USER_ID + BigInt(index) * 7919n).toString();
  return {
    creation_date: twitterDate(new Date(Date.UTC(2009, 5, 2) + index * 86_400_000)),
    user_id: id,
    username: `author_${index}`,
    name: `Author ${index}`,
    follower_count: Math.floor(rand() * 1_000_000),
    following_count: Math.floor(rand() * 5_000),
    favourites_count: Math.floor(rand() * 100_000),
    is_private: null,
    is_verified: false,
    is_blue_verified: index % 3 === 0,
    location: index % 2 === 0 ? 'Somewhere' : '',
    profile_pic_url: `https://pbs.twimg.com/profile_images/${id}/p_normal.jpg`,
    profile_banner_url: null,
    description: `Synthetic author number ${index}`,
    external_url: null,
    number_of_tweets: Math.floor(rand() * 50_000),
    bot: false,
    timestamp: 1243973549 + index,
    has_nft_avatar: false,
    category: null,
    default_profile: null,
    default_profile_image: null,
    listed_count: Math.floor(rand() * 1_000),
    verified_type: null,
  };
}

function rect(rand: () => number, max: number) {
  const w = 20 + Math.floor(rand() * 200);
  return {
    x: Math.floor(rand() * max),
    y: Math.floor(rand() * max),
    h: w,
    w,
  };
}

function result(index: number, author: ReturnType<typeof user>, rand: () => number) {
  const tweetId = (FIRST_TWEET_ID - BigInt(index) * 1000n).toString();
  const mediaId = (FIRST_MEDIA_ID - BigInt(index) * 1000n).toString();
  const created = new Date(Date.UTC(2025, 4, 21) - index * 60_000);
  const url = `https://pbs.twimg.com/media/G${mediaId}.jpg`;
  const faces = () => ({ faces: [rect(rand, 1000), rect(rand, 1000)] });
  return {
    tweet_id: tweetId,
    creation_date: twitterDate(created),
    text: `synthetic tweet ${index} https://t.co/x${index}`,
    media_url: [url],
    video_url: null,
    user: author,
    language: 'en',
    favorite_count: Math.floor(rand() * 100_000),
    retweet_count: Math.floor(rand() * 10_000),
    reply_count: Math.floor(rand() * 3_000),
    quote_count: Math.floor(rand() * 300),
    retweet: false,
    views: Math.floor(rand() * 10_000_000),
    timestamp: Math.floor(created.getTime() / 1000),
    video_view_count: null,
    in_reply_to_status_id: null,
    quoted_status_id: null,
    binding_values: null,
    expanded_url: `https://x.com/${author.username}/status/${tweetId}/photo/1`,
    retweet_tweet_id: null,
    extended_entities: {
      media: [
        {
          display_url: `pic.x.com/x${index}`,
          expanded_url: `https://x.com/${author.username}/status/${tweetId}/photo/1`,
          id_str: mediaId,
          indices: [0, 23],
          media_key: `3_${mediaId}`,
          media_url_https: url,
          type: 'photo',
          url: `https://t.co/x${index}`,
          ext_media_availability: { status: 'Available' },
          features: { large: faces(), medium: faces(), small: faces(), orig: faces() },
          sizes: {
            large: { h: 1705, w: 1100, resize: 'fit' },
            medium: { h: 1200, w: 774, resize: 'fit' },
            small: { h: 680, w: 439, resize: 'fit' },
            thumb: { h: 150, w: 150, resize: 'crop' },
          },
          original_info: {
            height: 1705,
            width: 1100,
            focus_rects: [
              { x: 0, y: 1013, w: 1100, h: 616 },
              { x: 0, y: 605, w: 1100, h: 1100 },
              { x: 0, y: 451, w: 1100, h: 1254 },
              { x: 128, y: 0, w: 853, h: 1705 },
              { x: 0, y: 0, w: 1100, h: 1705 },
            ].map((r) => ({ ...r, x: r.x + (index % 7) })),
          },
          media_results: { result: { media_key: `3_${mediaId}` } },
        },
      ],
    },
    conversation_id: tweetId,
    retweet_status: null,
    quoted_status: null,
    bookmark_count: Math.floor(rand() * 2_000),
    source: 'Twitter for iPhone',
    community_note: null,
  };
}

/** Raw agntdata bodies, newest tweets first, `pageSize` results each. */
export function generateBodies(options: CorpusOptions): string[] {
  const rand = random(20250521);
  const authors = Array.from({ length: options.authors }, (_, i) => user(i, rand));
  const bodies: string[] = [];
  for (let start = 0; start < options.tweets; start += options.pageSize) {
    const pageAuthors = Array.from(
      { length: options.authorsPerPage },
      () => authors[Math.floor(rand() * authors.length)]!,
    );
    const results = [];
    for (let i = start; i < Math.min(start + options.pageSize, options.tweets); i += 1) {
      results.push(result(i, pageAuthors[i % pageAuthors.length]!, rand));
    }
    bodies.push(JSON.stringify({ results, continuation_token: `page-${start}` }));
  }
  return bodies;
}
