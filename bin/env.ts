import type { ProviderName } from '@birdfeed/model';
import { z } from 'zod';

/**
 * The environment of every `birdfeed` command, parsed once. Packages never read process.env;
 * commands read it here and pass options down. A bad value fails at start with the variable's
 * name and what was wrong, never later in the middle of a crawl.
 */
const optionalUrl = (protocol: RegExp, error: string) =>
  z
    .string()
    .trim()
    .transform((value) => (value === '' ? undefined : value))
    .pipe(z.url({ protocol, error }).optional())
    .optional();

/**
 * What is wrong with a credential that cannot travel in `Authorization: Bearer <value>`, or
 * undefined when nothing is. Bearer tokens and API keys are printable ASCII without spaces (RFC
 * 6750's b64token; X's app tokens add %-escapes); undici refuses a header holding CR, LF, NUL
 * or a character above U+00FF on every request (UND_ERR_INVALID_ARG "invalid authorization
 * header"), and a space, a tab or a Latin-1 letter would only be rejected by the provider.
 * The usual sources: a .env saved with CRLF line ends, a token pasted with typographic quotes.
 * The message never quotes the value; a character that no token can hold is named by its code.
 */
function credentialProblem(value: string): string | undefined {
  if (/[\r\n]$/.test(value)) {
    return 'ends with a line break (a .env file saved with Windows CRLF line ends?); remove it';
  }
  const bad = /[^\x21-\x7e]/.exec(value);
  if (bad === null) return undefined;
  const code = bad[0].codePointAt(0) ?? 0;
  const where = `character ${bad.index + 1} of ${value.length}`;
  if (code === 0x20 || code === 0x09) {
    return `contains whitespace (${where}): a token is one word, with no spaces or tabs`;
  }
  const hex = `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  return code < 0x20 || code === 0x7f
    ? `contains a control character (${hex}, ${where})`
    : `contains a non-ASCII character (${hex}, ${where}; a typographic quote pasted with it?): tokens are plain ASCII`;
}

/** A provider credential: empty = unset (that provider is off); otherwise header-safe. */
const optionalSecret = z
  .string()
  .transform((value) => (value === '' ? undefined : value))
  .optional()
  .superRefine((value, ctx) => {
    const problem = value === undefined ? undefined : credentialProblem(value);
    // No `input` on the issue: the value never reaches an error or a log.
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  });

/**
 * `schema` with an empty (or blank) value read as unset, so its default applies: .env.example
 * promises that for every variable, and `KEY=` is how a copied .env leaves one out.
 */
export const emptyAsUnset = <Schema extends z.ZodType>(schema: Schema) =>
  z.preprocess(
    (value) => (typeof value === 'string' && value.trim() === '' ? undefined : value),
    schema,
  );

/**
 * A provider base URL. Only http and https: undici refuses any other scheme on every request,
 * and `localhost:4010` (no scheme) parses as a URL whose scheme is "localhost".
 */
export const httpUrl = (fallback: string) =>
  emptyAsUnset(
    z
      .string()
      .trim()
      .pipe(
        z.url({
          protocol: /^https?$/,
          error:
            'must be an http:// or https:// URL, e.g. https://api.x.com or http://127.0.0.1:4010',
        }),
      )
      .default(fallback),
  );

/**
 * An integer variable in plain digits, from `min` to `max`; empty = unset. Not `Number()`'s
 * reading: `WORKER_CONCURRENCY=0x10` would run 16 workers and `1e1` ten, where the same
 * value as a flag is refused.
 */
export const optionalInt = (min: number, max = 2_147_483_647) =>
  z.preprocess(
    (value) => (typeof value === 'string' && value.trim() === '' ? undefined : value),
    z
      .string()
      .trim()
      .regex(
        /^\d{1,16}$/,
        'must be a whole number in plain digits, e.g. 5000 (not 1e3, 0x10 or 5.0)',
      )
      .transform(Number)
      .pipe(z.number().min(min).max(max))
      .optional(),
  );

/** A positive integer variable with its default; apps extend the schema with more of these. */
export const positiveInt = (fallback: number, min = 1) =>
  // At most 2^31 - 1: every one of them may end up in a timer (ms) or a pool size, and Node's
  // timers turn a longer delay into 1 ms.
  optionalInt(min).transform((value) => value ?? fallback);
/**
 * The name (not the token) of a provider credential: queue and limiter names are built from it,
 * so a worker and the scheduler meet on the same queue only when both use the same label.
 */
export const credentialLabel = emptyAsUnset(
  z
    .string()
    .regex(
      /^[a-z0-9][a-z0-9_-]{0,39}$/,
      'a-z, 0-9, - or _ (a name for the credential, not the token)',
    )
    .default('default'),
);

/** The label of the provider's credential, for its queue name (worker and scheduler agree). */
export function credentialLabelFor(
  env: { X_CREDENTIAL_LABEL: string; AGNTDATA_CREDENTIAL_LABEL: string },
  provider: ProviderName,
): string {
  return provider === 'x' ? env.X_CREDENTIAL_LABEL : env.AGNTDATA_CREDENTIAL_LABEL;
}

/**
 * The provider credential's request budget: `max` requests per `windowMs` (the workers'
 * BullMQ limiter, and `crawl --once`'s in-process one).
 */
export function requestBudgetFor(
  env: {
    X_RATE_LIMIT_MAX: number;
    X_RATE_LIMIT_WINDOW_MS: number;
    AGNTDATA_RATE_LIMIT_PER_MINUTE: number;
  },
  provider: ProviderName,
): { max: number; windowMs: number } {
  return provider === 'x'
    ? { max: env.X_RATE_LIMIT_MAX, windowMs: env.X_RATE_LIMIT_WINDOW_MS }
    : { max: env.AGNTDATA_RATE_LIMIT_PER_MINUTE, windowMs: 60_000 };
}

/** The port of a URL's authority as written: after the last `@`, a `[…]` IPv6 host or a name. */
const AUTHORITY_PORT =
  /^[a-z][a-z0-9+.-]*:\/\/(?:[^/?#]*@)?(?:\[[^\]/?#@]*\]|[^/?#:@[\]]*):([^/?#@:]*)(?=[/?#]|$)/i;

/**
 * What is wrong with the ports of a Postgres URL, or undefined. The URL parser takes `:0` and
 * refuses a port above 65535 without saying the port is why; node-postgres lets a `?port=`
 * parameter override the port and reads `?port=abc` as NaN (net.connect then throws before any
 * socket exists) and `?port=5432abc` as 5432. So each is plain digits from 1 to 65535.
 */
function postgresPortProblem(value: string): string | undefined {
  if (!URL.canParse(value)) {
    // The URL check refuses it already; this only adds that the port is why, when it is.
    const written = AUTHORITY_PORT.exec(value)?.[1];
    return written !== undefined && written !== '' && !isTcpPort(written)
      ? `its port ${JSON.stringify(written)} is not a TCP port (1 to 65535)`
      : undefined;
  }
  const url = new URL(value);
  if (url.port !== '' && !isTcpPort(url.port)) {
    return `its port ${JSON.stringify(url.port)} is not a TCP port (1 to 65535)`;
  }
  for (const port of url.searchParams.getAll('port')) {
    if (!isTcpPort(port)) {
      return `its ?port=${JSON.stringify(port)} is not a TCP port (1 to 65535, in plain digits)`;
    }
  }
  return undefined;
}

function isTcpPort(text: string): boolean {
  return /^[0-9]{1,5}$/.test(text) && Number(text) >= 1 && Number(text) <= 65535;
}

export const envSchema = z.object({
  /** Postgres connection string; unset = the embedded PGlite database under .birdfeed/. */
  DATABASE_URL: optionalUrl(
    /^postgres(ql)?$/,
    'must be a postgres:// or postgresql:// URL, e.g. postgres://postgres@127.0.0.1:5432/birdfeed',
  ).superRefine((value, ctx) => {
    const problem = value === undefined ? undefined : postgresPortProblem(value);
    // The message quotes the port only: the URL may carry a password.
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  }),
  /** Redis for BullMQ; unset = commands that need Redis say so (the demo falls back to in-process). */
  REDIS_URL: optionalUrl(
    /^rediss?$/,
    'must be a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379',
  ),
  /** Key prefix of every BullMQ queue, so several deployments can share one Redis. */
  BIRDFEED_QUEUE_PREFIX: emptyAsUnset(z.string().min(1).default('birdfeed')),
  X_API_BASE_URL: httpUrl('https://api.x.com'),
  X_BEARER_TOKEN: optionalSecret,
  AGNTDATA_BASE_URL: httpUrl('https://api.agntdata.dev'),
  AGNTDATA_API_KEY: optionalSecret,
  /** X app-auth budget: requests per window (1,500 per 15 minutes for user tweets). */
  X_RATE_LIMIT_MAX: positiveInt(1500),
  X_RATE_LIMIT_WINDOW_MS: positiveInt(15 * 60 * 1000),
  AGNTDATA_RATE_LIMIT_PER_MINUTE: positiveInt(60),
  /** Stop starting new agntdata runs once today's spend reaches this many cents; unset = no cap. */
  AGNTDATA_DAILY_BUDGET_CENTS: optionalInt(0),
  /** At least 100 ms: every tick is a Postgres transaction. */
  SCHEDULER_TICK_MS: positiveInt(5000, 100),
  LOG_LEVEL: emptyAsUnset(
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ),
});

export type Env = z.infer<typeof envSchema>;

/** The variables that hold credentials: the shared logger redacts them wherever they appear. */
export const SECRET_ENV_NAMES = [
  'X_BEARER_TOKEN',
  'AGNTDATA_API_KEY',
] as const satisfies readonly (keyof Env)[];

export class EnvError extends Error {
  override readonly name = 'EnvError';
}

/** Parses `source` with `schema`; a bad value throws EnvError naming every variable at fault. */
export function parseEnvWith<Schema extends z.ZodType>(
  schema: Schema,
  source: NodeJS.ProcessEnv = process.env,
): z.infer<Schema> {
  const result = schema.safeParse(source);
  if (!result.success) {
    const lines = result.error.issues.map(
      (issue) => `  ${issue.path.join('.') || '(environment)'}: ${issue.message}`,
    );
    throw new EnvError(`invalid environment:\n${lines.join('\n')}`);
  }
  return result.data;
}

export function parseEnv(source: NodeJS.ProcessEnv = process.env): Env {
  return parseEnvWith(envSchema, source);
}
