/**
 * A fixed request window per credential, on sandbox time: X's 15-minute windows (the reset
 * instant is set by the first request of a window) and agntdata's per-minute budget.
 */
export interface WindowState {
  limit: number;
  remaining: number;
  /** Sandbox epoch ms at which the window resets. */
  resetAtMs: number;
}

export class RequestWindow {
  private windowStart = Number.NEGATIVE_INFINITY;
  private used = 0;

  constructor(
    readonly limit: number,
    readonly windowMs: number,
  ) {}

  private roll(nowMs: number): void {
    if (nowMs >= this.windowStart + this.windowMs) {
      this.windowStart = nowMs;
      this.used = 0;
    }
  }

  /** Counts one request if the budget allows it. */
  take(nowMs: number): { allowed: boolean; state: WindowState } {
    this.roll(nowMs);
    const allowed = this.used < this.limit;
    if (allowed) this.used += 1;
    return { allowed, state: this.state(nowMs) };
  }

  state(nowMs: number): WindowState {
    this.roll(nowMs);
    return {
      limit: this.limit,
      remaining: Math.max(0, this.limit - this.used),
      resetAtMs: this.windowStart + this.windowMs,
    };
  }
}
