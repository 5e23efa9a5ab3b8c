import { describe, expect, it } from 'vitest';
import { parseDuration } from './duration.ts';
import { parseSchedulerArgs, SchedulerStartError } from './main.ts';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['5s', 5_000],
    ['1.5s', 1_500],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['250', 250],
  ])('%s = %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '5x', '-1s', '0s', 'soon'])('refuses %j', (text) => {
    expect(() => parseDuration(text)).toThrow(RangeError);
  });
});

describe('birdfeed scheduler arguments', () => {
  it('reads --tick, --once and --provider', () => {
    expect(parseSchedulerArgs(['--tick', '2s', '--once', '--provider', 'x'])).toEqual({
      tickMs: 2_000,
      once: true,
      providers: ['x'],
    });
    expect(parseSchedulerArgs([])).toEqual({ tickMs: null, once: false, providers: null });
  });

  it('names the bad argument', () => {
    expect(() => parseSchedulerArgs(['--tick', 'often'])).toThrow(/--tick/);
    expect(() => parseSchedulerArgs(['--provider', 'mastodon'])).toThrow(SchedulerStartError);
    expect(() => parseSchedulerArgs(['--every', '5s'])).toThrow(/every/);
  });
});
