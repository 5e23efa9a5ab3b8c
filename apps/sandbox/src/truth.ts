import type { SandboxAccount } from './accounts.ts';
import type { World } from './world.ts';

/**
 * What the sandbox knows it has: every tweet of an account up to the current sandbox time,
 * newest first, with each media item's faces in four sizes and focus rects. A test compares
 * a database filled through the providers against this.
 */
export interface TruthMedia {
  media_key: string;
  type: string;
  faces: { orig: Rect[]; large: Rect[]; medium: Rect[]; small: Rect[] };
  focus_rects: Rect[];
}
interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}
export interface TruthTweet {
  id: string;
  created_at: string;
  kind: string;
  media: TruthMedia[];
}
export interface Truth {
  user_id: string;
  username: string;
  status: SandboxAccount['status'];
  /**
   * How many of the tweets below the X endpoint can still serve: the newest 3,200 of an active
   * account, none of a protected, suspended or deleted one (it answers with errors[]).
   */
  x_reachable: number;
  tweets: TruthTweet[];
}

export function truthOf(world: World, account: SandboxAccount, nowMs: number, xCap: number): Truth {
  const timeline = world.timeline(account);
  const count = timeline.countAt(nowMs);
  const tweets: TruthTweet[] = [];
  for (let k = count - 1; k >= 0; k--) {
    const tweet = world.tweet(account, k);
    tweets.push({
      id: tweet.id,
      created_at: new Date(Math.floor(tweet.createdAtMs / 1000) * 1000).toISOString(),
      kind: tweet.kind,
      media: tweet.media.map((media) => ({
        media_key: media.mediaKey,
        type: media.type,
        faces: media.faces,
        focus_rects: media.focusRects,
      })),
    });
  }
  return {
    user_id: account.id,
    username: account.username,
    status: account.status,
    x_reachable: account.status === 'active' ? Math.min(count, xCap) : 0,
    tweets,
  };
}
