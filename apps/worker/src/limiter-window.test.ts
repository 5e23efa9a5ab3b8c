import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_REDIS_URL, testRedisPrefix } from '../../../test/support/redis.ts';
import { stretchLimiterWindow } from './limiter-window.ts';

let redis: Redis;
const prefix = testRedisPrefix('limiter-window');
const key = (name: string) => `${prefix}:${name}:limiter`;

beforeAll(() => {
  redis = new Redis(TEST_REDIS_URL);
});
afterAll(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

const now = 1_000_000;
const options = (resetInMs: number) => ({
  resetAt: new Date(now + resetInMs),
  marginMs: 250,
  windowMs: 2_000,
  now,
});

describe('stretchLimiterWindow (real Redis)', () => {
  it('makes an open window last until the provider reset plus the margin', async () => {
    await redis.set(key('open'), '3', 'PX', 500);
    expect(await stretchLimiterWindow(redis, key('open'), options(1_500))).toBe(true);
    const ttl = await redis.pttl(key('open'));
    expect(ttl).toBeGreaterThan(1_600);
    expect(ttl).toBeLessThanOrEqual(1_750);
    // The counter is kept: the pages already started still count against the window.
    expect(await redis.get(key('open'))).toBe('3');
  });

  it('never shortens a window, and never makes one longer than the limiter window', async () => {
    await redis.set(key('long'), '3', 'PX', 1_900);
    expect(await stretchLimiterWindow(redis, key('long'), options(200))).toBe(false);
    expect(await redis.pttl(key('long'))).toBeGreaterThan(1_500);

    await redis.set(key('capped'), '1', 'PX', 100);
    expect(await stretchLimiterWindow(redis, key('capped'), options(60_000))).toBe(true);
    expect(await redis.pttl(key('capped'))).toBeLessThanOrEqual(2_000);
  });

  it('opens no window, leaves a hold alone, ignores a reset in the past', async () => {
    expect(await stretchLimiterWindow(redis, key('absent'), options(1_500))).toBe(false);
    expect(await redis.exists(key('absent'))).toBe(0);

    // BullMQ's rateLimit(): the counter at its maximum until the hold ends.
    await redis.set(key('held'), String(Number.MAX_SAFE_INTEGER), 'PX', 300);
    expect(await stretchLimiterWindow(redis, key('held'), options(1_500))).toBe(false);
    expect(await redis.pttl(key('held'))).toBeLessThanOrEqual(300);

    await redis.set(key('past'), '2', 'PX', 300);
    expect(await stretchLimiterWindow(redis, key('past'), options(-1_000))).toBe(false);
    expect(await redis.pttl(key('past'))).toBeLessThanOrEqual(300);
  });
});
