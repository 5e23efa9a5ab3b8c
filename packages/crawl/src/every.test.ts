import { describe, expect, it } from 'vitest';
import { durationUnitProblem, IntervalFormatError, parseEvery } from './every.ts';

describe('parseEvery', () => {
  it('reads intervals as people write them', () => {
    expect(parseEvery('15m')).toBe(900);
    expect(parseEvery(' 1h30m ')).toBe(5400);
    expect(parseEvery('30m1h')).toBe(5400);
    expect(parseEvery('90s')).toBe(90);
    expect(parseEvery('1d')).toBe(86_400);
    // Upper-case S, H, D mean only what they say (a cron line written that way still works).
    expect(parseEvery('1H30m')).toBe(5400);
    expect(parseEvery('2D')).toBe(172_800);
  });

  it.each([
    // Lower-cased, `1M` was one minute: a crawl every minute where a month may have been meant.
    ['1M', '"1M": M is a month to some and a minute to others: write m for minutes'],
    ['1h30M', '"1h30M": M is a month to some and a minute to others'],
    ['1h1H', '"1h1H": the unit h is given twice'],
    // Summed, `1h1h` was stored as every 2h.
    ['1h1h', '"1h1h": the unit h is given twice; give each unit once, e.g. 2h or 1h30m'],
    ['1h30m5m', '"1h30m5m": the unit m is given twice'],
    ['2w', '"2w": w is not a unit: use s, m, h or d'],
    ['15', '"15" is not an interval: use a number with a unit s, m, h or d'],
    ['5s', '"5s" is out of range: an interval is between 10s and 30d'],
  ])('refuses %j, saying why', (text, message) => {
    expect(() => parseEvery(text)).toThrow(IntervalFormatError);
    expect(() => parseEvery(text)).toThrow(message);
  });
});

describe('durationUnitProblem', () => {
  it('has nothing to say about lower-case units given once, nor about what has no unit', () => {
    for (const text of ['1d12h30m15s', '90d', '15', 'abc', '']) {
      expect(durationUnitProblem(text), text).toBeUndefined();
    }
  });
});
