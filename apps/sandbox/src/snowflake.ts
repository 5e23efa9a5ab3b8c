/**
 * Snowflake ids as X makes them: milliseconds since the Twitter epoch in the high bits, then
 * 10 bits of worker and 12 of sequence. Ids therefore grow with time and, for anything created
 * after 2013, exceed 2^53: they live as bigint here and as decimal strings on the wire.
 */
export const TWITTER_EPOCH_MS = 1288834974657;

const EPOCH = BigInt(TWITTER_EPOCH_MS);

export function snowflakeAt(timeMs: number, low22Bits: number): bigint {
  return ((BigInt(Math.floor(timeMs)) - EPOCH) << 22n) | BigInt(low22Bits & 0x3fffff);
}

export function snowflakeTimeMs(id: bigint): number {
  return Number((id >> 22n) + EPOCH);
}

/** Parses a decimal id from a request; null when it is not a non-negative integer in range. */
export function parseSnowflake(text: string): bigint | null {
  if (!/^\d{1,20}$/.test(text)) return null;
  const value = BigInt(text);
  return value <= 0xffffffffffffffffn ? value : null;
}
