import { parseCommandArgs, parseTimestampFlag } from '../../../bin/commands/command-args.ts';
import { parseDuration } from './control-api.ts';
import { parseSandboxEnv } from './env.ts';
import { FaultSpecError, parseFaultSpec } from './faults.ts';
import {
  DEFAULT_AGNTDATA_API_KEY,
  DEFAULT_X_BEARER_TOKEN,
  type RunningSandbox,
  type SandboxOptions,
  SandboxOptionsError,
  startSandbox,
} from './index.ts';

/**
 * `pnpm birdfeed sandbox`: runs the emulator until SIGINT/SIGTERM and prints what a human
 * needs to try it (URL, credentials, a few account ids).
 */
const USAGE = `usage: birdfeed sandbox [options]

  --port N                 listen port (default 4010; 0 = any free port)
  --host H                 listen address (default 127.0.0.1)
  --accounts N             number of sandbox accounts (default 50)
  --seed S                 data seed (default birdfeed)
  --tweets-per-account N   every account starts with N tweets (default: a realistic spread)
  --no-special-accounts    no protected/suspended/deleted/empty/over-3,200 accounts
  --time-scale K           sandbox seconds per real second (default 1; 60 = an hour a minute)
  --frozen                 stop the clock: no new tweets, no metric changes
  --epoch ISO              sandbox time at start (default now)
  --faults SPEC            e.g. 500:0.05,hang:0.01@agntdata,429*3 (see apps/sandbox/README)
  --x-rate-limit N         X requests per 15-minute window per token (default 1500)
  --agntdata-rpm N         agntdata requests per minute per key (default 60)
  --agntdata-credits N     agntdata credits per key in cents (default unlimited)
  --enveloped              agntdata answers {success, data, meta}
  --x-token T              accept this X bearer token (repeatable; default ${DEFAULT_X_BEARER_TOKEN})
  --agntdata-key K         accept this agntdata key (repeatable; default ${DEFAULT_AGNTDATA_API_KEY})
  --short-page-rate P      share of short pages (default 0.03)
  --empty-page-rate P      share of empty pages with a next_token (default 0.01)
  --cursor-ttl D           pagination token lifetime in sandbox time (default 30m)

environment: SANDBOX_PORT, SANDBOX_HOST, SANDBOX_ACCOUNTS, SANDBOX_SEED, SANDBOX_TIME_SCALE,
SANDBOX_FAULTS, SANDBOX_AGNTDATA_ENVELOPED (flags win).
`;

class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * A number flag written plainly: `Number()` alone reads `0x1000` as 4096, `1e300` as a scale
 * no clock survives and `' '` as 0.
 */
function number(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,15}(\.\d{1,15})?$/.test(value)) {
    throw new UsageError(
      `--${name}: expected a number in plain digits (e.g. 60, 0.5), got "${value}"`,
    );
  }
  return Number(value);
}

/** The flags; an option given twice, unknown or without its value is a usage error. */
function parseFlags(argv: string[]) {
  try {
    return parseCommandArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: 'boolean', short: 'h' },
        port: { type: 'string' },
        host: { type: 'string' },
        accounts: { type: 'string' },
        seed: { type: 'string' },
        'tweets-per-account': { type: 'string' },
        'no-special-accounts': { type: 'boolean' },
        'time-scale': { type: 'string' },
        frozen: { type: 'boolean' },
        epoch: { type: 'string' },
        faults: { type: 'string' },
        'x-rate-limit': { type: 'string' },
        'agntdata-rpm': { type: 'string' },
        'agntdata-credits': { type: 'string' },
        enveloped: { type: 'boolean' },
        'x-token': { type: 'string', multiple: true },
        'agntdata-key': { type: 'string', multiple: true },
        'short-page-rate': { type: 'string' },
        'empty-page-rate': { type: 'string' },
        'cursor-ttl': { type: 'string' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

export function parseSandboxArgs(
  argv: string[],
  env: NodeJS.ProcessEnv = {},
): SandboxOptions | 'help' {
  const { values } = parseFlags(argv);
  if (values.help === true) return 'help';
  const fromEnv = parseSandboxEnv(env);
  const faults = values.faults ?? fromEnv.SANDBOX_FAULTS;
  if (faults !== undefined) parseFaultSpec(faults);
  let epochMs: number | undefined;
  if (values.epoch !== undefined) {
    try {
      epochMs = parseTimestampFlag('epoch', values.epoch).getTime();
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  }
  const options: SandboxOptions = {
    port: number('port', values.port) ?? fromEnv.SANDBOX_PORT ?? 4010,
    host: values.host ?? fromEnv.SANDBOX_HOST ?? '127.0.0.1',
    accounts: number('accounts', values.accounts) ?? fromEnv.SANDBOX_ACCOUNTS,
    seed: values.seed ?? fromEnv.SANDBOX_SEED,
    tweetsPerAccount: number('tweets-per-account', values['tweets-per-account']),
    specialAccounts: values['no-special-accounts'] === true ? false : undefined,
    timeScale: number('time-scale', values['time-scale']) ?? fromEnv.SANDBOX_TIME_SCALE,
    frozen: values.frozen,
    epochMs,
    faults,
    xRateLimit: number('x-rate-limit', values['x-rate-limit']),
    agntdataRequestsPerMinute: number('agntdata-rpm', values['agntdata-rpm']),
    agntdataCreditsCents: number('agntdata-credits', values['agntdata-credits']),
    agntdataEnveloped: values.enveloped ?? fromEnv.SANDBOX_AGNTDATA_ENVELOPED,
    xBearerTokens: values['x-token'],
    agntdataApiKeys: values['agntdata-key'],
    shortPageRate: number('short-page-rate', values['short-page-rate']),
    emptyPageRate: number('empty-page-rate', values['empty-page-rate']),
    cursorTtlMs:
      values['cursor-ttl'] === undefined ? undefined : parseDuration(values['cursor-ttl']),
  };
  // Unset keys fall back to startSandbox's defaults.
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
}

/** A copyable header: the default token as is, a custom one (not shown) from its variable. */
function authorization(shown: string, fallback: string, variable: string): string {
  return shown === fallback
    ? `'Authorization: Bearer ${shown}'`
    : `"Authorization: Bearer $${variable}"`;
}

/** What a human needs to try the sandbox. Custom tokens are not echoed (they may be real secrets). */
export function describeSandbox(sandbox: RunningSandbox): string {
  const credential = (tokens: readonly string[], fallback: string) =>
    tokens.length === 1 && tokens[0] === fallback
      ? fallback
      : `(${tokens.length} configured token(s), not shown)`;
  const xToken = credential(sandbox.xBearerTokens, DEFAULT_X_BEARER_TOKEN);
  const agntdataKey = credential(sandbox.agntdataApiKeys, DEFAULT_AGNTDATA_API_KEY);
  const accounts = sandbox.accounts();
  const active = accounts.filter((account) => account.status === 'active');
  const sample = active.slice(0, 5);
  const unavailable = accounts.filter((account) => account.status !== 'active').slice(0, 3);
  const state = sandbox.clock.state();
  const lines = [
    `birdfeed sandbox listening on ${sandbox.url}`,
    '',
    `  X_API_BASE_URL=${sandbox.url}`,
    `  X_BEARER_TOKEN=${xToken}`,
    `  AGNTDATA_BASE_URL=${sandbox.url}`,
    `  AGNTDATA_API_KEY=${agntdataKey}`,
    '',
    `  ${accounts.length} accounts, seed "${sandbox.options.seed}", clock ${new Date(state.now).toISOString()}` +
      ` x${state.timeScale}${state.frozen ? ' (frozen)' : ''}`,
    ...sample.map(
      (account) =>
        `  ${account.id.padEnd(20)} @${account.username.padEnd(16)} ${account.tweetCount} tweets, ${account.activity}`,
    ),
    ...unavailable.map(
      (account) => `  ${account.id.padEnd(20)} @${account.username.padEnd(16)} ${account.status}`,
    ),
    '',
  ];
  const first = sample[0];
  if (first !== undefined) {
    lines.push(
      '  try:',
      `    curl -H ${authorization(xToken, DEFAULT_X_BEARER_TOKEN, 'X_BEARER_TOKEN')} '${sandbox.url}/2/users/${first.id}/tweets?max_results=5'`,
      `    curl -H ${authorization(agntdataKey, DEFAULT_AGNTDATA_API_KEY, 'AGNTDATA_API_KEY')} -H 'content-type: application/json' -d '{"user_id": ${first.id}, "limit": 5}' ${sandbox.url}/user/medias`,
      `    curl ${sandbox.url}/_sandbox/truth/${first.id}`,
      `    curl ${sandbox.url}/_sandbox/stats`,
      '',
    );
  }
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  let options: SandboxOptions | 'help';
  try {
    options = parseSandboxArgs(argv, process.env);
  } catch (error) {
    if (
      error instanceof UsageError ||
      error instanceof FaultSpecError ||
      error instanceof RangeError ||
      (error instanceof TypeError && 'code' in error)
    ) {
      process.stderr.write(`birdfeed sandbox: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    throw error;
  }
  if (options === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  let sandbox: RunningSandbox;
  try {
    sandbox = await startSandbox(options);
  } catch (error) {
    if (error instanceof SandboxOptionsError) {
      process.stderr.write(`birdfeed sandbox: ${error.message}\n`);
      return 2;
    }
    // A port another process holds (a running demo uses 4010 too), a host not on this machine.
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL' || code === 'EACCES') {
      const reason = {
        EADDRINUSE: 'address already in use (another sandbox or a running demo?)',
        EADDRNOTAVAIL: 'address not available on this machine',
        EACCES: 'permission denied',
      }[code];
      process.stderr.write(
        `birdfeed sandbox: cannot listen on ${options.host}:${options.port} (--host, --port): ${reason}\n`,
      );
      return 1;
    }
    throw error;
  }
  process.stdout.write(describeSandbox(sandbox));
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  process.stdout.write(`birdfeed sandbox: ${signal}, stopping\n`);
  await sandbox.stop();
  return 0;
}
