import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SandboxAccount } from './accounts.ts';
import { type ClockState, SandboxClock } from './clock.ts';
import { FaultInjector, type FaultRule, parseFaultSpec } from './faults.ts';
import { hashString } from './prng.ts';
import { type ResolvedOptions, resolveOptions, type SandboxOptions } from './sandbox-options.ts';
import { SandboxHandler } from './server.ts';
import { type RequestLogEntry, SandboxStats, type StatsSnapshot } from './stats.ts';
import { type Truth, truthOf } from './truth.ts';
import { World } from './world.ts';

export type { AccountStatus, Activity, SandboxAccount } from './accounts.ts';
export type { ClockState } from './clock.ts';
export { parseDuration } from './control-api.ts';
export {
  FAULT_KINDS,
  type FaultKind,
  type FaultRule,
  FaultSpecError,
  parseFaultSpec,
} from './faults.ts';
export {
  DEFAULT_AGNTDATA_API_KEY,
  DEFAULT_X_BEARER_TOKEN,
  type SandboxOptions,
  SandboxOptionsError,
} from './sandbox-options.ts';
export type { RequestLogEntry, StatsSnapshot } from './stats.ts';
export type { Truth, TruthMedia, TruthTweet } from './truth.ts';

export interface SandboxAccountInfo {
  id: string;
  username: string;
  status: SandboxAccount['status'];
  activity: SandboxAccount['activity'];
  /** Tweets the account has at the current sandbox time. */
  tweetCount: number;
}

export interface RunningSandbox {
  /** Base URL of both providers (X_API_BASE_URL and AGNTDATA_BASE_URL), e.g. http://127.0.0.1:4010 */
  readonly url: string;
  readonly port: number;
  readonly options: Readonly<ResolvedOptions>;
  /** Accepted X bearer tokens and agntdata keys. */
  readonly xBearerTokens: readonly string[];
  readonly agntdataApiKeys: readonly string[];
  accounts(filter?: { status?: SandboxAccount['status'] }): SandboxAccountInfo[];
  truth(userId: string): Truth;
  stats(): StatsSnapshot;
  requests(sinceSeq?: number): RequestLogEntry[];
  clearRequests(): void;
  readonly clock: {
    now(): number;
    state(): ClockState;
    advance(ms: number): void;
    freeze(): void;
    unfreeze(): void;
    setTimeScale(timeScale: number): void;
  };
  readonly faults: {
    /** A SPEC string (see faults.ts) or rules. */
    add(spec: string | FaultRule[]): void;
    clear(): void;
    list(): FaultRule[];
  };
  stop(): Promise<void>;
}

export async function startSandbox(options: SandboxOptions = {}): Promise<RunningSandbox> {
  const resolved = resolveOptions(options);
  const world = new World({
    seed: resolved.seed,
    accounts: resolved.accounts,
    epochMs: resolved.epochMs,
    shape: {
      tweetsPerAccount: resolved.tweetsPerAccount,
      status: resolved.accountStatus,
      activity: resolved.activity,
      specialAccounts: resolved.specialAccounts,
    },
    tweetCacheSize: resolved.tweetCacheSize,
  });
  const clock = new SandboxClock({
    startMs: resolved.epochMs,
    timeScale: resolved.timeScale,
    frozen: resolved.frozen,
  });
  const faults = new FaultInjector(hashString(`${resolved.seed}:faults`));
  faults.add(
    typeof resolved.faults === 'string' ? parseFaultSpec(resolved.faults) : resolved.faults,
  );
  const stats = new SandboxStats(resolved.requestLogSize);
  const handler = new SandboxHandler({ options: resolved, world, clock, faults, stats });

  const server = createServer({ keepAlive: true }, handler.handle);
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(resolved.port, resolved.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = resolved.host === '0.0.0.0' || resolved.host === '::' ? '127.0.0.1' : resolved.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;

  let stopping: Promise<void> | null = null;
  const accountOrThrow = (userId: string): SandboxAccount => {
    const account = world.accountById(userId);
    if (account === undefined) throw new RangeError(`no sandbox account with id ${userId}`);
    return account;
  };

  return {
    url,
    port: address.port,
    options: resolved,
    xBearerTokens: resolved.xBearerTokens,
    agntdataApiKeys: resolved.agntdataApiKeys,
    accounts(filter) {
      return world.accounts
        .filter((account) => filter?.status === undefined || account.status === filter.status)
        .map((account) => ({
          id: account.id,
          username: account.username,
          status: account.status,
          activity: account.activity,
          // Lazy: counting makes the account's timeline, and listing 10,000 accounts
          // should not make 10,000 timelines.
          get tweetCount() {
            return world.timeline(account).countAt(clock.now());
          },
        }));
    },
    truth: (userId) => truthOf(world, accountOrThrow(userId), clock.now(), resolved.xTimelineCap),
    stats: () => stats.snapshot(world.accounts.map((account) => account.id)),
    requests: (sinceSeq) => stats.requestLog(sinceSeq ?? 0),
    clearRequests: () => stats.clearLog(),
    clock: {
      now: () => clock.now(),
      state: () => clock.state(),
      advance: (ms) => clock.advance(ms),
      freeze: () => clock.setFrozen(true),
      unfreeze: () => clock.setFrozen(false),
      setTimeScale: (timeScale) => clock.setTimeScale(timeScale),
    },
    faults: {
      add: (spec) => faults.add(typeof spec === 'string' ? parseFaultSpec(spec) : spec),
      clear: () => faults.clear(),
      list: () => faults.list(),
    },
    stop() {
      stopping ??= new Promise<void>((resolve, reject) => {
        handler.releaseHung();
        server.close((error) => (error === undefined ? resolve() : reject(error)));
        server.closeAllConnections();
      });
      return stopping;
    },
  };
}
