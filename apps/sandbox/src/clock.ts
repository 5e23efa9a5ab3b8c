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

export class SandboxClock {
  private realAnchor: number;
  private sandboxAnchor: number;
  private scale: number;
  private isFrozen: boolean;

  constructor(options: { startMs: number; timeScale: number; frozen: boolean }) {
    if (!(options.timeScale > 0)) throw new RangeError('timeScale must be > 0');
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
    this.reanchor();
    this.sandboxAnchor += ms;
  }

  setFrozen(frozen: boolean): void {
    this.reanchor();
    this.isFrozen = frozen;
  }

  setTimeScale(timeScale: number): void {
    if (!(timeScale > 0) || !Number.isFinite(timeScale)) {
      throw new RangeError('timeScale must be a finite number > 0');
    }
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
