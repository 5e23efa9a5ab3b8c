import type { Redis } from 'ioredis';

/**
 * BullMQ's limiter window opens when the first job of the window starts; the provider's opens
 * when that job's request arrives, a little later. So BullMQ's window can roll over (and start
 * `max` new pages) a moment before the provider's resets, and when the window's last response
 * (`remaining: 0`, which holds the queue) comes back after that rollover, the new window's
 * first requests meet the provider's old, exhausted one: 429s. Stretching the open window to
 * the provider's reset closes that gap.
 *
 * The script leaves alone a key that does not exist (no window open: the next job opens one),
 * a hold (`rateLimit` sets the counter to its maximum) and a window that already lasts long
 * enough. Returns 1 when it stretched the window.
 */
const STRETCH = `
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then return 0 end
local count = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if count >= 9007199254740991 then return 0 end
local wanted = tonumber(ARGV[1])
if ttl >= wanted then return 0 end
redis.call('PEXPIRE', KEYS[1], wanted)
return 1
`;

export interface StretchOptions {
  /** When the provider's window resets (its rate-limit reset header). */
  resetAt: Date;
  /** Added to the reset: the header has whole seconds and the clocks may differ a little. */
  marginMs: number;
  /** The limiter's own window: a window is never stretched to last longer than this from now. */
  windowMs: number;
  now?: number;
}

/** Makes the open limiter window at `limiterKey` last at least until the provider's reset. */
export async function stretchLimiterWindow(
  redis: Redis,
  limiterKey: string,
  options: StretchOptions,
): Promise<boolean> {
  const now = options.now ?? Date.now();
  const wanted = Math.min(
    Math.ceil(options.resetAt.getTime() - now + options.marginMs),
    options.windowMs,
  );
  if (!(wanted > 0)) return false;
  return (await redis.eval(STRETCH, 1, limiterKey, String(wanted))) === 1;
}
