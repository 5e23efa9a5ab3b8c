const MAX_TIMER_MS = 2_147_483_647;

/**
 * Parses `250ms`, `5s`, `2m`, `1h`. A bare number is refused: `--tick 5` read as 5 ms ran a
 * Postgres transaction every 5 ms, where `watchlist --every 15` is refused and `demo --every
 * 15` means seconds.
 */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (match === null) {
    const hint = /^\d+(?:\.\d+)?$/.test(text.trim()) ? ' (give a unit: ms, s, m or h)' : '';
    throw new RangeError(
      `${JSON.stringify(text)} is not a duration${hint}, e.g. 500ms, 5s, 2m, 1h`,
    );
  }
  const value = Number(match[1]);
  const unit = match[2];
  const factor = unit === 'ms' ? 1 : unit === 's' ? 1_000 : unit === 'm' ? 60_000 : 3_600_000;
  const ms = Math.round(value * factor);
  if (ms <= 0) throw new RangeError(`${JSON.stringify(text)} must be longer than 0`);
  // Node's timers hold 2^31 - 1 ms; a longer one fires after 1 ms, over and over.
  if (ms > MAX_TIMER_MS) throw new RangeError(`${JSON.stringify(text)} must be at most 24 days`);
  return ms;
}
