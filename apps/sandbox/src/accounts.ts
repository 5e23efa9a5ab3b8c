import { Rng } from './prng.ts';
import { snowflakeAt } from './snowflake.ts';
import { LANGUAGES, type Language } from './text.ts';

/**
 * Account profiles. Half the accounts have the small numeric ids of pre-2013 accounts, half
 * snowflake ids above 2^53 (any account created since late 2013), so a client that lets an id
 * pass through a JS number fails on half of them.
 */
export type AccountStatus = 'active' | 'protected' | 'suspended' | 'deleted';
export type Activity = 'silent' | 'steady' | 'bursty';

export interface SandboxUser {
  /** Position among the sandbox accounts; -1 for the external users that tweets reference. */
  index: number;
  id: string;
  username: string;
  name: string;
  description: string;
  location: string;
  url: string | null;
  profileImageUrl: string;
  createdAtMs: number;
  verified: boolean;
  verifiedType: 'none' | 'blue' | 'business';
  followersBase: number;
  /** Followers gained per sandbox day (metrics grow with time). */
  followersPerDay: number;
  followingCount: number;
  listedCount: number;
  likeCount: number;
  /** Tweets posted before the sandbox's history (not served; only counted in tweet_count). */
  olderTweetCount: number;
  lang: Language;
  /** The X JSON of this user for one field selection, minute and tweet count (render cache). */
  xJson?: { key: string; json: Buffer } | undefined;
}

export interface SandboxAccount extends SandboxUser {
  status: AccountStatus;
  activity: Activity;
  /** Tweets that exist when the sandbox clock starts. */
  historyCount: number;
  /** Mean gap between history tweets. */
  historyGapMs: number;
  /** steady: mean gap between new tweets; bursty: mean gap between bursts. */
  newTweetGapMs: number;
  /** bursty only: mean tweets per burst. */
  burstSize: number;
}

export interface AccountShape {
  tweetsPerAccount?: number | ((index: number) => number) | undefined;
  status?: AccountStatus | ((index: number) => AccountStatus) | undefined;
  activity?: Activity | ((index: number) => Activity) | undefined;
  /** Place protected/suspended/deleted accounts and timelines beyond 3,200 or empty. */
  specialAccounts: boolean;
}

const FIRST = ['ana', 'marta', 'li', 'omar', 'kenji', 'sofia', 'jonas', 'amara', 'luca', 'noor'];
const LAST = ['lindqvist', 'okafor', 'tanaka', 'garcia', 'dubois', 'weber', 'silva', 'haddad'];
const LOCATIONS = ['Lisbon', 'Osaka', 'Berlin', 'Lagos', 'São Paulo', 'Montréal', 'Istanbul', ''];
const BIOS = [
  'Photographer. Coffee, trains and long walks.',
  'Building small tools for big teams.',
  'News, notes and the occasional thread.',
  'Opinions are my own. Mostly pictures.',
  '',
];

const DAY_MS = 86_400_000;
const OLD_ACCOUNTS_FROM = Date.UTC(2007, 0, 1);
const SNOWFLAKE_USERS_FROM = Date.UTC(2014, 0, 1);

function pickShape<T>(value: T | ((index: number) => T) | undefined, index: number): T | undefined {
  if (typeof value === 'function') return (value as (index: number) => T)(index);
  return value;
}

function generateProfile(rng: Rng, index: number, big: boolean, epochMs: number): SandboxUser {
  const first = rng.pick(FIRST);
  const last = rng.pick(LAST);
  const suffix = index >= 0 ? String(index) : String(rng.int(10, 99));
  const username = `${first}_${last}`.slice(0, 15 - suffix.length) + suffix;
  const newestCreation = Math.min(epochMs - 30 * DAY_MS, Date.UTC(2025, 0, 1));
  let createdAtMs: number;
  let id: string;
  if (big) {
    createdAtMs = rng.int(SNOWFLAKE_USERS_FROM, Math.max(SNOWFLAKE_USERS_FROM, newestCreation));
    id = snowflakeAt(createdAtMs, index >= 0 ? index : 0x200000 | rng.int(0, 0x1fffff)).toString();
  } else {
    createdAtMs = rng.int(OLD_ACCOUNTS_FROM, SNOWFLAKE_USERS_FROM - DAY_MS);
    const slot = index >= 0 ? index : 50_000 + rng.int(0, 1_000_000);
    id = String(1_000_000 + slot * 104_729 + rng.int(0, 104_728));
  }
  const followersBase = Math.floor(10 ** (1 + rng.next() * 5.5));
  const verifiedRoll = rng.next();
  return {
    index,
    id,
    username,
    name: `${first[0]?.toUpperCase()}${first.slice(1)} ${last[0]?.toUpperCase()}${last.slice(1)}`,
    description: rng.pick(BIOS),
    location: rng.pick(LOCATIONS),
    url: rng.chance(0.4) ? `https://t.co/${username.slice(0, 10)}` : null,
    profileImageUrl: `https://pbs.twimg.com/profile_images/${id}/avatar_normal.jpg`,
    createdAtMs,
    // X v2's `verified` is true for any checkmark, blue included (DocNow/twarc#696).
    verified: verifiedRoll < 0.3,
    verifiedType: verifiedRoll < 0.05 ? 'business' : verifiedRoll < 0.3 ? 'blue' : 'none',
    followersBase,
    followersPerDay: Math.max(1, Math.floor(followersBase * rng.next() * 0.002)),
    followingCount: rng.int(0, 3000),
    listedCount: Math.floor(followersBase * rng.next() * 0.01),
    likeCount: rng.int(0, 80_000),
    olderTweetCount: rng.int(0, 20_000),
    lang: rng.chance(0.6) ? 'en' : rng.pick(LANGUAGES),
  };
}

export function generateAccount(
  seedHash: number,
  index: number,
  epochMs: number,
  shape: AccountShape,
): SandboxAccount {
  const rng = Rng.of(seedHash, 1, index);
  const profile = generateProfile(rng, index, index % 2 === 1, epochMs);
  const slot = index % 20;
  let status: AccountStatus = 'active';
  if (shape.specialAccounts) {
    if (slot === 17) status = 'protected';
    else if (slot === 18) status = 'suspended';
    else if (slot === 19) status = 'deleted';
  }
  status = pickShape(shape.status, index) ?? status;

  let historyCount: number;
  const fixed = pickShape(shape.tweetsPerAccount, index);
  if (fixed !== undefined) historyCount = Math.max(0, Math.floor(fixed));
  else if (shape.specialAccounts && slot === 3) historyCount = rng.int(3_300, 4_200);
  else if (shape.specialAccounts && slot === 5) historyCount = 0;
  else {
    const roll = rng.next();
    historyCount =
      roll < 0.6 ? rng.int(20, 400) : roll < 0.9 ? rng.int(400, 1_500) : rng.int(1_500, 3_000);
  }

  let activity: Activity;
  const activityRoll = rng.next();
  if (shape.specialAccounts && slot === 5) activity = 'steady';
  else activity = activityRoll < 0.3 ? 'silent' : activityRoll < 0.8 ? 'steady' : 'bursty';
  activity = pickShape(shape.activity, index) ?? activity;

  return {
    ...profile,
    status,
    activity,
    historyCount,
    historyGapMs: rng.int(30 * 60_000, 2 * DAY_MS),
    newTweetGapMs: activity === 'bursty' ? rng.int(2, 8) * 3_600_000 : rng.int(10, 120) * 60_000,
    burstSize: rng.int(3, 8),
  };
}

/** Users that tweets reply to, quote and retweet: never watched, always active. */
export function generateExternalUser(seedHash: number, slot: number, epochMs: number): SandboxUser {
  const rng = Rng.of(seedHash, 2, slot);
  return generateProfile(rng, -1, slot % 2 === 0, epochMs);
}
