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

/**
 * What is wrong with the units of a duration written as amounts and units (`1h30m`), or
 * undefined when nothing is (the caller still checks the rest, lower-cased). `M` is refused:
 * a month to some and a minute to others, and every minute spends the X budget 43,200 times
 * faster than every month, so neither is guessed (`S`, `H`, `D` mean only what they say). A
 * unit given twice (`1h1h`) is a typo or a paste, and its sum (2h) is rarely what was meant.
 */
export function durationUnitProblem(text: string): string | undefined {
  const seen = new Set<string>();
  for (const [, unit = ''] of text.matchAll(/\d+(\p{L})/gu)) {
    const lower = unit.toLowerCase();
    if (unit === 'M')
      return 'M is a month to some and a minute to others: write m for minutes (months are not supported)';
    if (!(lower in UNIT_SECONDS)) return `${unit} is not a unit: use s, m, h or d`;
    if (seen.has(lower))
      return `the unit ${lower} is given twice; give each unit once, e.g. 2h or 1h30m`;
    seen.add(lower);
  }
  return undefined;
}

export function parseEvery(text: string): number {
  const unitProblem = durationUnitProblem(text.trim());
  if (unitProblem !== undefined) {
    throw new IntervalFormatError(`${JSON.stringify(text)}: ${unitProblem}`);
  }
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
