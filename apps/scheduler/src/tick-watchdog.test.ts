import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { tickWatchdog } from './main.ts';

function capture() {
  const lines: Array<{ level: string; msg: string; fields: Record<string, unknown> }> = [];
  const at = (level: string) => (fields: object, msg?: string) =>
    lines.push({ level, msg: msg ?? '', fields: fields as Record<string, unknown> });
  return { logger: { error: at('error'), info: at('info') } as never, lines };
}

// Fake timers: on a loaded machine a real 130 ms wait can run the 40 ms timer late enough
// that its 60 ms repeat falls after the wait, and the case sees one warning instead of two.
beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('tickWatchdog', () => {
  it('says so when a tick is stuck, repeats, and says when it ends', () => {
    const { logger, lines } = capture();
    const watchdog = tickWatchdog(logger, 40_000, 60_000);
    vi.advanceTimersByTime(39_999);
    expect(lines).toEqual([]);
    vi.advanceTimersByTime(130_001 - 39_999);
    watchdog.done();
    const stuck = lines.filter((line) => line.level === 'error');
    expect(stuck).toHaveLength(2);
    expect(stuck[0]?.msg).toMatch(/^tick still running: Postgres or Redis is not answering/);
    expect(stuck.map((line) => line.fields.runningForS)).toEqual([40, 100]);
    expect(lines.at(-1)).toMatchObject({ msg: 'the stuck tick ended', fields: { tookS: 130 } });
  });

  it('is silent for a tick that ends in time', () => {
    const { logger, lines } = capture();
    const watchdog = tickWatchdog(logger, 200, 200);
    vi.advanceTimersByTime(199);
    watchdog.done();
    vi.advanceTimersByTime(10_000);
    expect(lines).toEqual([]);
  });
});
