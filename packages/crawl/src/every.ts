/**
 * Crawl intervals as people write them: `15m`, `1h`, `1h30m`, `90s`, `1d`. Parsed to seconds;
 * anything else is an error naming the value, so a typo never becomes a default.
 */
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };
const EVERY_PATTERN = /^(?:\d+[smhd])+$/;

export class IntervalFormatError extends Error {
  override readonly name = 'IntervalFormatError';
}

/** Shortest and longest interval a target may have. */
export const MIN_INTERVAL_SECONDS = 10;
export const MAX_INTERVAL_SECONDS = 30 * 86_400;

export function parseEvery(text: string): number {
  const value = text.trim().toLowerCase();
  if (!EVERY_PATTERN.test(value)) {
    throw new IntervalFormatError(
      `${JSON.stringify(text)} is not an interval: use a number with a unit s, m, h or d, e.g. 15m, 1h30m`,
    );
  }
  let seconds = 0;
  for (const [, amount, unit] of value.matchAll(/(\d+)([smhd])/g)) {
    seconds += Number(amount) * (UNIT_SECONDS[unit as string] ?? 0);
  }
  if (seconds < MIN_INTERVAL_SECONDS || seconds > MAX_INTERVAL_SECONDS) {
    throw new IntervalFormatError(
      `${JSON.stringify(text)} is out of range: an interval is between ${formatEvery(MIN_INTERVAL_SECONDS)} and ${formatEvery(MAX_INTERVAL_SECONDS)}`,
    );
  }
  return seconds;
}

/** 900 → "15m", 5400 → "1h30m". */
export function formatEvery(seconds: number): string {
  let rest = Math.round(seconds);
  if (rest <= 0) return '0s';
  let text = '';
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = UNIT_SECONDS[unit] as number;
    const amount = Math.floor(rest / size);
    if (amount > 0) {
      text += `${amount}${unit}`;
      rest -= amount * size;
    }
  }
  return text;
}
