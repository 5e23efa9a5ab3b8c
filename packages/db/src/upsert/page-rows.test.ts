import { describe, expect, it } from 'vitest';
import { page, photo, tweet, user } from '../../test/support/pages.ts';
import { InvalidPageError, pageRows } from './page-rows.ts';

describe('pageRows', () => {
  it('orders rows by id numerically, not as text (the lock order of parallel writers)', () => {
    const ids = ['10', '9', '1234567890123456789', '200'];
    const rows = pageRows(
      page({ users: ids.map((id) => user(id)), tweets: ids.map((id) => tweet(id)) }),
    );
    expect(rows.users.map((u) => u.id)).toEqual(['9', '10', '200', '1234567890123456789']);
    expect(rows.tweets.map((t) => t.id)).toEqual(['9', '10', '200', '1234567890123456789']);
  });

  it('folds duplicate keys: later reported fields win, unreported ones are kept', () => {
    const rows = pageRows(
      page({
        users: [user('7', { username: 'a', name: 'A' }), user('7', { username: 'b' })],
        tweets: [
          tweet('20', {
            fromTimeline: false,
            text: 'x',
            references: [{ type: 'quoted', id: '5' }],
          }),
          tweet('3', { likeCount: 1 }),
          tweet('20', { likeCount: 2, references: [{ type: 'quoted', id: '5' }] }),
        ],
      }),
    );
    expect(rows.users).toEqual([{ id: '7', username: 'b', name: 'A' }]);
    expect(rows.tweets.map((t) => t.id)).toEqual(['3', '20']);
    expect(rows.tweets[1]).toMatchObject({ text: 'x', likeCount: 2, fromTimeline: true });
    expect(rows.references).toEqual([{ tweetId: '20', type: 'quoted', referencedTweetId: '5' }]);
  });

  it('reports only the face sizes and focus rects a media carries', () => {
    const rows = pageRows(
      page({
        media: [
          photo('3_2', { faces: { small: [], orig: [{ x: 1, y: 2, w: 3, h: 4 }] } }),
          photo('3_1', { focusRects: [] }),
          photo('3_3'),
        ],
      }),
    );
    expect(rows.faceSizesReported).toEqual([
      { mediaKey: '3_2', size: 'orig', count: 1 },
      { mediaKey: '3_2', size: 'small', count: 0 },
    ]);
    expect(rows.faces).toEqual([
      { mediaKey: '3_2', size: 'orig', idx: 0, rect: { x: 1, y: 2, w: 3, h: 4 } },
    ]);
    expect(rows.focusRectsReported).toEqual([{ mediaKey: '3_1', count: 0 }]);
  });

  it('names the canonical path of an id that would not fit a bigint', () => {
    const bad = page({ tweets: [tweet('1', { quotedTweetId: '9223372036854775808' })] });
    expect(() => pageRows(bad)).toThrow(InvalidPageError);
    expect(() => pageRows(bad)).toThrow(/tweets\[0\]\.quotedTweetId/);
    const rect = page({ media: [photo('3_1', { focusRects: [{ x: 1.5, y: 0, w: 1, h: 1 }] })] });
    expect(() => pageRows(rect)).toThrow(/media\[0\]\.focusRects\[0\]\.x/);
  });

  it('names a value its column cannot take: 32-bit sizes and boxes, whole-number counts', () => {
    const wide = page({ media: [photo('3_1', { width: 3_000_000_000 })] });
    expect(() => pageRows(wide)).toThrow(/not a 32-bit integer: 3000000000 at media\[0\]\.width/);
    const box = page({
      media: [photo('3_1', { faces: { orig: [{ x: 0, y: 0, w: 2 ** 31, h: 1 }] } })],
    });
    expect(() => pageRows(box)).toThrow(/media\[0\]\.faces\.orig\[0\]\.w/);
    const likes = page({ tweets: [tweet('1', { likeCount: 2 ** 53 })] });
    expect(() => pageRows(likes)).toThrow(/not a count: .* at tweets\[0\]\.likeCount/);
    const followers = page({ users: [user('1', { followersCount: -1 })] });
    expect(() => pageRows(followers)).toThrow(/users\[0\]\.followersCount/);
    // The largest values that fit go through.
    expect(() =>
      pageRows(page({ media: [photo('3_1', { width: 2 ** 31 - 1, viewCount: 2 ** 53 - 1 })] })),
    ).not.toThrow();
  });
});
