import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseSchedulerEnv } from '../apps/scheduler/src/env.ts';
import { parseWorkerEnv } from '../apps/worker/src/env.ts';
import { demoEnvSchema, parseDemoOptions } from '../bin/demo/demo-options.ts';
import { EnvError, parseEnv, parseEnvWith } from '../bin/env.ts';

/**
 * Settings that can never work are refused at start, naming the variable and never echoing a
 * credential. Every command's schema extends the shared one, so each parser gets the same rule.
 */
const parsers = { cli: parseEnv, worker: parseWorkerEnv, scheduler: parseSchedulerEnv };
const demoEnv = (source: NodeJS.ProcessEnv) => parseDemoOptions([], source, '/tmp');

function refusal(parse: (source: NodeJS.ProcessEnv) => unknown, source: NodeJS.ProcessEnv) {
  try {
    parse(source);
  } catch (error) {
    expect(error).toBeInstanceOf(EnvError);
    return (error as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(Object.keys(source))}`);
}

describe('provider credentials', () => {
  const SECRET = 'AAAAsecretTOKEN42';
  const bad: Array<[string, string, RegExp]> = [
    ['a CRLF .env line end', `${SECRET}\r`, /ends with a line break .*CRLF/],
    ['a trailing newline', `${SECRET}\n`, /ends with a line break/],
    ['a space inside', `${SECRET.slice(0, 4)} ${SECRET.slice(4)}`, /whitespace \(character 5 of/],
    ['a tab', `${SECRET}\tx`, /whitespace/],
    [
      'typographic quotes',
      `\u201c${SECRET}\u201d`,
      /non-ASCII character \(U\+201C, character 1 of/,
    ],
    ['a Latin-1 letter', `${SECRET}\u00e9`, /non-ASCII character \(U\+00E9/],
    ['a control character', `${SECRET}\u0000x`, /control character \(U\+0000/],
  ];

  for (const [parserName, parse] of Object.entries(parsers)) {
    it.each(bad)(`${parserName}: refuses a token with %s, naming the variable`, (_, value, why) => {
      for (const name of ['X_BEARER_TOKEN', 'AGNTDATA_API_KEY']) {
        const message = refusal(parse, { [name]: value });
        expect(message).toMatch(new RegExp(`${name}: `));
        expect(message).toMatch(why);
        expect(message).not.toContain(SECRET);
        expect(message).not.toContain(SECRET.slice(4));
      }
    });
  }

  it('accepts real-looking tokens (X app tokens carry %-escapes) and treats empty as off', () => {
    // The shape of an X app token, made up here (no token, real-looking or not, in the repo).
    const shaped = `${'A'.repeat(21)}FAKEfake0%2BnotAtoken%2Bexample%3DnotReal0123456789F`;
    const env = parseWorkerEnv({ X_BEARER_TOKEN: shaped, AGNTDATA_API_KEY: '' });
    expect(env.X_BEARER_TOKEN).toMatch(/^AAAA.*F$/);
    expect(env.AGNTDATA_API_KEY).toBeUndefined();
  });
});

describe('provider base URLs', () => {
  for (const [parserName, parse] of Object.entries(parsers)) {
    it.each([
      ['no scheme', 'localhost:4010'],
      ['ftp', 'ftp://api.example.com'],
      ['a file path', 'file:///etc/hosts'],
      ['not a URL', 'api.x.com'],
    ])(`${parserName}: refuses %s, naming the variable`, (_, value) => {
      for (const name of ['X_API_BASE_URL', 'AGNTDATA_BASE_URL']) {
        expect(refusal(parse, { [name]: value })).toMatch(
          new RegExp(`${name}: must be an http:// or https:// URL`),
        );
      }
    });
  }

  it('accepts http and https, trims a CRLF line end, keeps the defaults', () => {
    const env = parseEnv({
      X_API_BASE_URL: 'http://127.0.0.1:4010\r',
      AGNTDATA_BASE_URL: 'https://api.agntdata.dev/v1/x',
    });
    expect(env.X_API_BASE_URL).toBe('http://127.0.0.1:4010');
    expect(env.AGNTDATA_BASE_URL).toBe('https://api.agntdata.dev/v1/x');
    expect(parseEnv({}).X_API_BASE_URL).toBe('https://api.x.com');
    expect(parseEnv({}).AGNTDATA_BASE_URL).toBe('https://api.agntdata.dev');
  });
});

describe('integer variables', () => {
  it.each([
    ['WORKER_CONCURRENCY', '0x10', /WORKER_CONCURRENCY: must be a whole number in plain digits/],
    ['WORKER_CONCURRENCY', '1e1', /WORKER_CONCURRENCY: must be a whole number in plain digits/],
    ['WORKER_X_PAGE_SIZE', '5.0', /WORKER_X_PAGE_SIZE: must be a whole number/],
    ['WORKER_X_PAGE_SIZE', '101', /WORKER_X_PAGE_SIZE: .*100/],
    ['X_RATE_LIMIT_MAX', '0', /X_RATE_LIMIT_MAX: .*1/],
    ['AGNTDATA_DAILY_BUDGET_CENTS', '-5', /AGNTDATA_DAILY_BUDGET_CENTS: must be a whole number/],
  ])('refuses %s=%j, naming it', (name, value, message) => {
    expect(refusal(parseWorkerEnv, { [name]: value })).toMatch(message);
  });

  it('refuses a scheduler tick under 100 ms (each tick is a Postgres transaction)', () => {
    expect(refusal(parseSchedulerEnv, { SCHEDULER_TICK_MS: '5' })).toMatch(
      /SCHEDULER_TICK_MS: .*100/,
    );
  });

  it('reads plain digits (trimmed), and an empty value as unset', () => {
    const env = parseWorkerEnv({
      WORKER_CONCURRENCY: ' 8 ',
      WORKER_X_PAGE_SIZE: '',
      AGNTDATA_DAILY_BUDGET_CENTS: '0',
    });
    expect(env.WORKER_CONCURRENCY).toBe(8);
    expect(env.WORKER_X_PAGE_SIZE).toBe(100);
    expect(env.AGNTDATA_DAILY_BUDGET_CENTS).toBe(0);
    expect(parseWorkerEnv({}).AGNTDATA_DAILY_BUDGET_CENTS).toBeUndefined();
  });
});

describe('connection URLs', () => {
  it.each([
    [
      'DATABASE_URL',
      'mysql://foo/db',
      /DATABASE_URL: must be a postgres:\/\/ or postgresql:\/\/ URL/,
    ],
    ['DATABASE_URL', '127.0.0.1:5432/db', /DATABASE_URL: must be a postgres:\/\//],
    ['REDIS_URL', 'http://127.0.0.1:6379', /REDIS_URL: must be a redis:\/\/ or rediss:\/\/ URL/],
  ])('refuses %s=%s before any connection, naming the scheme it takes', (name, value, why) => {
    for (const parse of Object.values(parsers))
      expect(refusal(parse, { [name]: value })).toMatch(why);
  });

  it.each([
    ['postgres://u:pw@h:5432/db?port=abc', 'its ?port="abc" is not a TCP port'],
    ['postgres://u:pw@h/db?port=70000', 'its ?port="70000" is not a TCP port'],
    ['postgres://h/db?port=5432abc', 'its ?port="5432abc" is not a TCP port'],
    ['postgres://h/db?port=', 'its ?port="" is not a TCP port'],
    ['postgres://u:pw@h:0/db', 'its port "0" is not a TCP port'],
    ['postgres://u:p@ss@h:70000/db', 'its port "70000" is not a TCP port'],
    ['postgres://[::1]:0/db', 'its port "0" is not a TCP port'],
  ])('refuses DATABASE_URL=%s, naming the port and not the password', (url, why) => {
    for (const parse of [...Object.values(parsers), demoEnv]) {
      const message = refusal(parse, { DATABASE_URL: url });
      expect(message).toContain(`DATABASE_URL: ${why} (1 to 65535`);
      expect(message).not.toMatch(/pw|p@ss/);
    }
  });

  it('takes postgres://, postgresql://, redis:// and rediss://', () => {
    for (const url of [
      'postgres://u:p@h:5432/d',
      'postgresql://h/d',
      'postgres://h:/d',
      'postgres://[::1]:5432/d?sslmode=disable&port=6432',
      'postgres://u:5@[::1]/d',
    ]) {
      expect(parseEnv({ DATABASE_URL: url }).DATABASE_URL).toBe(url);
    }
    for (const url of ['redis://127.0.0.1:6379', 'rediss://r.example:6380/2']) {
      expect(parseEnv({ REDIS_URL: url }).REDIS_URL).toBe(url);
    }
  });

  it("the demo's integer variables follow the same plain-digits rule", () => {
    expect(() => parseDemoOptions([], { BIRDFEED_DEMO_PG_PORT: 'abc' }, '/tmp')).toThrow(
      /BIRDFEED_DEMO_PG_PORT: must be a whole number in plain digits/,
    );
    expect(() => parseDemoOptions([], { BIRDFEED_DEMO_WORKERS: '1e1' }, '/tmp')).toThrow(
      /BIRDFEED_DEMO_WORKERS/,
    );
    expect(parseDemoOptions([], { BIRDFEED_DEMO_PG_PORT: '' }, '/tmp')).toMatchObject({
      pgPort: 5433,
    });
  });
});

describe('an empty value', () => {
  // .env.example: "an empty value counts as unset" — for every variable it lists that a
  // command reads (the compose-only ones are docker compose's).
  const listed = readFileSync(new URL('../.env.example', import.meta.url), 'utf8')
    .split('\n')
    .map((line) => /^#? ?([A-Z][A-Z0-9_]*)=/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined);
  const allParsers = {
    ...parsers,
    demo: (source: NodeJS.ProcessEnv) => parseEnvWith(demoEnvSchema, source),
  };

  it.each(Object.entries(allParsers))(
    '%s: every variable .env.example lists, left empty, is read as unset',
    (_, parse) => {
      const read = Object.keys(parse({}) as object);
      const names = listed.filter((name) => read.includes(name));
      expect(names).toEqual(
        expect.arrayContaining(['LOG_LEVEL', 'X_API_BASE_URL', 'BIRDFEED_QUEUE_PREFIX']),
      );
      const empty = Object.fromEntries(names.map((name) => [name, '']));
      expect(parse(empty)).toEqual(parse({}));
      const blank = Object.fromEntries(names.map((name) => [name, '  ']));
      expect(parse(blank)).toEqual(parse({}));
    },
  );
});
