import { describe, expect, it } from 'vitest';
import { tickWatchdog } from './main.ts';

function capture() {
  const lines: Array<{ level: string; msg: string; fields: Record<string, unknown> }> = [];
  const at = (level: string) => (fields: object, msg?: string) =>
    lines.push({ level, msg: msg ?? '', fields: fields as Record<string, unknown> });
  return { logger: { error: at('error'), info: at('info') } as never, lines };
}

describe('tickWatchdog', () => {
  it('says so when a tick is stuck, repeats, and says when it ends', async () => {
    const { logger, lines } = capture();
    const watchdog = tickWatchdog(logger, 40, 60);
    await new Promise((resolve) => setTimeout(resolve, 130));
    watchdog.done();
    const stuck = lines.filter((line) => line.level === 'error');
    expect(stuck.length).toBeGreaterThanOrEqual(2);
    expect(stuck[0]?.msg).toMatch(/^tick still running: Postgres or Redis is not answering/);
    expect(lines.at(-1)?.msg).toBe('the stuck tick ended');
  });

  it('is silent for a tick that ends in time', async () => {
    const { logger, lines } = capture();
    const watchdog = tickWatchdog(logger, 200, 200);
    await new Promise((resolve) => setTimeout(resolve, 20));
    watchdog.done();
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(lines).toEqual([]);
  });
});
