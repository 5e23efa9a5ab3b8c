import { TWITTER_EPOCH_MS } from './snowflake.ts';

/**
 * The sandbox's own clock. Sandbox time runs `timeScale` times faster than the wall clock
 * (so a 15-minute rate-limit window passes in 15 s at scale 60), can be frozen for exact
 * comparisons, and can be pushed forward by hand. Rate-limit headers are in wall-clock epoch
 * seconds (that is what a client sleeps on), so the clock also maps sandbox time back to
 * wall-clock time.
 */
export interface ClockState {
  /** Sandbox time, epoch milliseconds. */
  now: number;
  timeScale: number;
  frozen: boolean;
}

/** The first and last instants a snowflake id can encode (41 bits of ms from X's epoch). */
export const MIN_SANDBOX_MS = TWITTER_EPOCH_MS;
export const MAX_SANDBOX_MS = TWITTER_EPOCH_MS + 2 ** 41 - 1;
/** A day a second: years of sandbox time within hours; past it the clock soon leaves the range. */
export const MAX_TIME_SCALE = 100_000;

/** What is wrong with a clock that would read `nowMs` at `timeScale`, or undefined. */
export function clockProblem(nowMs: number, timeScale: number): string | undefined {
  if (!(timeScale > 0 && timeScale <= MAX_TIME_SCALE)) {
    return `time scale must be above 0 and at most ${MAX_TIME_SCALE}, got ${timeScale}`;
  }
  if (!(nowMs >= MIN_SANDBOX_MS && nowMs <= MAX_SANDBOX_MS)) {
    const at =
      Number.isFinite(nowMs) && Math.abs(nowMs) < 8.64e15
        ? new Date(nowMs).toISOString()
        : String(nowMs);
    return `sandbox time must stay between ${new Date(MIN_SANDBOX_MS).toISOString()} and ${new Date(MAX_SANDBOX_MS).toISOString()} (what a snowflake id can hold), got ${at}`;
  }
  return undefined;
}

export class SandboxClock {
  private realAnchor: number;
  private sandboxAnchor: number;
  private scale: number;
  private isFrozen: boolean;

  constructor(options: { startMs: number; timeScale: number; frozen: boolean }) {
    const problem = clockProblem(options.startMs, options.timeScale);
    if (problem !== undefined) throw new RangeError(problem);
    this.realAnchor = Date.now();
    this.sandboxAnchor = options.startMs;
    this.scale = options.timeScale;
    this.isFrozen = options.frozen;
  }

  now(): number {
    if (this.isFrozen) return this.sandboxAnchor;
    return this.sandboxAnchor + (Date.now() - this.realAnchor) * this.scale;
  }

  get timeScale(): number {
    return this.scale;
  }

  get frozen(): boolean {
    return this.isFrozen;
  }

  /** Wall-clock epoch ms at which the sandbox clock reaches `sandboxMs` (at the current scale). */
  toRealMs(sandboxMs: number): number {
    return Date.now() + (sandboxMs - this.now()) / this.scale;
  }

  /** Converts a sandbox duration into wall-clock milliseconds. */
  toRealDuration(sandboxMs: number): number {
    return sandboxMs / this.scale;
  }

  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError('advance needs a finite ms >= 0');
    const problem = clockProblem(this.now() + ms, this.scale);
    if (problem !== undefined) throw new RangeError(problem);
    this.reanchor();
    this.sandboxAnchor += ms;
  }

  setFrozen(frozen: boolean): void {
    this.reanchor();
    this.isFrozen = frozen;
  }

  setTimeScale(timeScale: number): void {
    const problem = clockProblem(this.now(), timeScale);
    if (problem !== undefined) throw new RangeError(problem);
    this.reanchor();
    this.scale = timeScale;
  }

  state(): ClockState {
    return { now: this.now(), timeScale: this.scale, frozen: this.isFrozen };
  }

  private reanchor(): void {
    this.sandboxAnchor = this.now();
    this.realAnchor = Date.now();
  }
}
