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
  ])('%s = %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '5x', '-1s', '0s', 'soon', '250', '5'])('refuses %j', (text) => {
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
    expect(() => parseSchedulerArgs(['--tick', '5'])).toThrow(
      /--tick: "5" is not a duration \(give a unit/,
    );
    expect(() => parseSchedulerArgs(['--tick', '5ms'])).toThrow(/--tick 5ms: at least 100ms/);
    // Longer than a Node timer holds: refused, not turned into a 1 ms loop.
    expect(() => parseSchedulerArgs(['--tick', '1000h'])).toThrow(/--tick.*at most 24 days/);
    expect(() => parseSchedulerArgs(['--provider', 'mastodon'])).toThrow(SchedulerStartError);
    expect(() => parseSchedulerArgs(['--every', '5s'])).toThrow(/every/);
    expect(() => parseSchedulerArgs(['--tick', '5s', '--tick', '1m'])).toThrow(
      /--tick given twice/,
    );
  });
});

describe('SCHEDULER_TICK_MS', () => {
  it('is refused past what a timer holds, naming the variable', async () => {
    const { parseSchedulerEnv } = await import('./env.ts');
    expect(() => parseSchedulerEnv({ SCHEDULER_TICK_MS: '3000000000' })).toThrow(
      /SCHEDULER_TICK_MS/,
    );
    expect(parseSchedulerEnv({ SCHEDULER_TICK_MS: '2147483647' }).SCHEDULER_TICK_MS).toBe(
      2_147_483_647,
    );
  });
});
