import { execFile, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxEnvSchema } from '../apps/sandbox/src/env.ts';
import { schedulerEnvSchema } from '../apps/scheduler/src/env.ts';
import { DEADLINE_GRACE_MS } from '../apps/worker/src/crawl-worker.ts';
import { workerEnvSchema } from '../apps/worker/src/env.ts';
import { demoEnvSchema } from '../bin/demo/demo-options.ts';
import { envSchema } from '../bin/env.ts';

/**
 * No Docker engine runs on these machines, so the compose file is checked the way CI can:
 * Debian's `docker-compose config` parses, interpolates and validates it, and this test holds
 * the result against the workspace: every service's command is a real `birdfeed` command whose
 * module exists and whose --help names each flag the service passes.
 */
const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
// A developer's own .env must not change what is validated: compose reads this empty one.
const scratch = mkdtempSync(join(tmpdir(), 'birdfeed-compose-'));
const EMPTY_ENV_FILE = join(scratch, 'empty.env');
writeFileSync(EMPTY_ENV_FILE, '');
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[] | string;
  profiles?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] | string };
  volumes?: unknown[];
  environment?: Record<string, string | null>;
  deploy?: { replicas?: number };
  stop_grace_period?: string;
}
interface ComposeConfig {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

async function composeConfig(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  envFile = EMPTY_ENV_FILE,
): Promise<ComposeConfig> {
  const { stdout } = await run('docker-compose', ['--env-file', envFile, ...args, 'config'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
  });
  // docker-compose is Python and pulls in PyYAML: its own YAML reader turns the output into JSON.
  const { stdout: json } = await new Promise<{ stdout: string }>((resolve, reject) => {
    const child = execFile(
      '/usr/bin/python3',
      ['-c', 'import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))'],
      (error, out) => (error ? reject(error) : resolve({ stdout: out })),
    );
    child.stdin?.end(stdout);
  });
  return JSON.parse(json) as ComposeConfig;
}

/** The command table of bin/birdfeed.ts: name → module path relative to bin/. */
function birdfeedCommands(): Map<string, string> {
  const source = readFileSync(join(ROOT, 'bin/birdfeed.ts'), 'utf8');
  const table = new Map<string, string>();
  for (const match of source.matchAll(/^\s*([a-z][a-z-]*): \{\s*path: '([^']+)'/gm)) {
    table.set(match[1] as string, match[2] as string);
  }
  return table;
}

function commandOf(service: ComposeService): string[] {
  const command = service.command;
  if (command === undefined) return [];
  return Array.isArray(command) ? command : command.split(/\s+/);
}

/** A compose duration ("90s", "1m30s", "500ms") in ms; refuses anything else. */
function durationMs(value: string | undefined): number {
  const match = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$/.exec(value ?? '');
  if (value === undefined || value === '' || match === null) {
    throw new Error(`not a compose duration: ${JSON.stringify(value)}`);
  }
  const [, h = '0', m = '0', sec = '0', ms = '0'] = match;
  return ((Number(h) * 60 + Number(m)) * 60 + Number(sec)) * 1000 + Number(ms);
}

let hasBinary = false;
beforeAll(async () => {
  hasBinary = await run('docker-compose', ['version'])
    .then(() => true)
    .catch(() => false);
});

describe('docker-compose.yml', () => {
  it('docker-compose is installed (CI installs it: apt-get install -y docker-compose)', () => {
    expect(
      hasBinary,
      "docker-compose not found on PATH: install Debian's package (`apt-get install -y docker-compose`, as .ci/run does)",
    ).toBe(true);
  });

  it('passes `docker-compose config` with and without the demo profile', async () => {
    const plain = await composeConfig([]);
    const demo = await composeConfig(['--profile', 'demo']);
    for (const name of ['postgres', 'redis', 'migrate', 'scheduler', 'worker']) {
      expect(Object.keys(plain.services)).toContain(name);
    }
    expect(demo.services.sandbox?.profiles).toEqual(['demo']);
    expect(demo.services['demo-watchlist']?.profiles).toEqual(['demo']);
    expect(plain.volumes).toHaveProperty('pgdata');
  });

  it('names only birdfeed commands that exist, with flags their --help knows', async () => {
    const config = await composeConfig(['--profile', 'demo']);
    const table = birdfeedCommands();
    expect(table.size).toBeGreaterThan(5);
    const appServices = Object.entries(config.services).filter(
      ([, service]) => service.build !== undefined,
    );
    expect(appServices.map(([name]) => name).sort()).toEqual(
      ['demo-watchlist', 'migrate', 'sandbox', 'scheduler', 'worker'].sort(),
    );
    const helpOf = new Map<string, string>();
    for (const [name, service] of appServices) {
      const [command, ...args] = commandOf(service);
      expect(command, `${name}: no command`).toBeDefined();
      const path = table.get(command as string);
      expect(path, `${name}: "${command}" is not in bin/birdfeed.ts's command table`).toBeDefined();
      const module = fileURLToPath(new URL(path as string, new URL('bin/', `file://${ROOT}`)));
      expect(existsSync(module), `${name}: ${module} does not exist`).toBe(true);
      if (!helpOf.has(command as string)) {
        const { stdout } = await run(
          process.execPath,
          ['--import', 'tsx', 'bin/birdfeed.ts', command as string, '--help'],
          { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'silent' } },
        );
        helpOf.set(command as string, stdout);
      }
      for (const flag of args.filter((arg) => arg.startsWith('--'))) {
        expect(helpOf.get(command as string), `${name}: ${command} --help lacks ${flag}`).toContain(
          flag,
        );
      }
    }
  });

  it('orders startup with healthchecks and depends_on conditions', async () => {
    const { services } = await composeConfig(['--profile', 'demo']);
    for (const name of ['postgres', 'redis', 'sandbox']) {
      expect(services[name]?.healthcheck, `${name} has no healthcheck`).toBeDefined();
    }
    expect(services.migrate?.depends_on?.postgres?.condition).toBe('service_healthy');
    for (const name of ['scheduler', 'worker']) {
      expect(services[name]?.depends_on?.migrate?.condition).toBe('service_completed_successfully');
      expect(services[name]?.depends_on?.redis?.condition).toBe('service_healthy');
    }
    expect(services['demo-watchlist']?.depends_on?.sandbox?.condition).toBe('service_healthy');
    expect(services.worker?.deploy?.replicas).toBe(2);
    expect(commandOf(services.redis as ComposeService).join(' ')).toMatch(
      /--maxmemory-policy noeviction.*--appendonly yes|--appendonly yes.*--maxmemory-policy noeviction/,
    );
  });

  it('gives a stopping worker time to finish a page in flight, and the scheduler its tick', async () => {
    expect(durationMs('1m30s')).toBe(90_000);
    expect(durationMs('500ms')).toBe(500);
    const { services } = await composeConfig([]);
    // A page may run WORKER_JOB_TIMEOUT_MS, plus the grace a step that ignores its deadline
    // gets; then the worker still closes its queues and database. Docker's default is 10 s.
    const { WORKER_JOB_TIMEOUT_MS } = workerEnvSchema.parse({});
    const worker = durationMs(services.worker?.stop_grace_period);
    expect(worker).toBeGreaterThanOrEqual(WORKER_JOB_TIMEOUT_MS + DEADLINE_GRACE_MS + 10_000);
    expect(durationMs(services.scheduler?.stop_grace_period)).toBeGreaterThan(10_000);
    // Whoever raises WORKER_JOB_TIMEOUT_MS can raise this with it, from .env.
    const raised = await composeConfig([], { WORKER_STOP_GRACE_PERIOD: '2m30s' });
    expect(durationMs(raised.services.worker?.stop_grace_period)).toBe(150_000);
    // And .env.example, copied as it stands, keeps a period that covers its own timeout.
    const copied = await composeConfig([], {}, join(ROOT, '.env.example'));
    expect(durationMs(copied.services.worker?.stop_grace_period)).toBeGreaterThanOrEqual(
      Number(copied.services.worker?.environment?.WORKER_JOB_TIMEOUT_MS) + DEADLINE_GRACE_MS,
    );
  });

  it('points the workers at the sandbox by default and at the real providers from .env', async () => {
    const demo = await composeConfig(['--profile', 'demo']);
    expect(demo.services.worker?.environment?.X_API_BASE_URL).toBe('http://sandbox:4010');
    const live = await composeConfig([], {
      X_API_BASE_URL: 'https://api.x.com',
      X_BEARER_TOKEN: 'a-real-token',
      AGNTDATA_API_KEY: '',
      WORKER_REPLICAS: '5',
    });
    expect(live.services.worker?.environment?.X_API_BASE_URL).toBe('https://api.x.com');
    expect(live.services.worker?.environment?.X_BEARER_TOKEN).toBe('a-real-token');
    // Empty = that provider is off (not silently the sandbox key).
    expect(live.services.worker?.environment?.AGNTDATA_API_KEY).toBe('');
    expect(live.services.worker?.deploy?.replicas).toBe(5);
    // `cp .env.example .env` as it stands keeps the demo profile on the sandbox.
    const copied = await composeConfig(['--profile', 'demo'], {}, join(ROOT, '.env.example'));
    expect(copied.services.worker?.environment?.X_API_BASE_URL).toBe('http://sandbox:4010');
    expect(copied.services.worker?.environment?.AGNTDATA_API_KEY).toBe('sandbox-agntdata-key');
  });

  it('hands every setting the worker and the scheduler read to their containers when set', async () => {
    const workerKeys = Object.keys(workerEnvSchema.shape);
    const schedulerKeys = Object.keys(schedulerEnvSchema.shape);
    const env = Object.fromEntries(
      [...new Set([...workerKeys, ...schedulerKeys])].map((key) => [key, '7']),
    );
    const config = await composeConfig([], env);
    const worker = Object.keys(config.services.worker?.environment ?? {});
    const scheduler = Object.keys(config.services.scheduler?.environment ?? {});
    expect(workerKeys.filter((key) => !worker.includes(key)).sort()).toEqual([]);
    expect(schedulerKeys.filter((key) => !scheduler.includes(key)).sort()).toEqual([]);
    expect(config.services.worker?.environment?.WORKER_JOB_TIMEOUT_MS).toBe('7');
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');

  it('copies every workspace manifest before the frozen install', () => {
    const manifests = ['apps', 'packages'].flatMap((dir) =>
      readdirSync(join(ROOT, dir))
        .filter((name) => existsSync(join(ROOT, dir, name, 'package.json')))
        .map((name) => `${dir}/${name}/package.json`),
    );
    expect(manifests.length).toBeGreaterThan(5);
    for (const manifest of manifests) expect(dockerfile).toContain(`COPY ${manifest} `);
    // And nothing it copies is gone (a missing COPY source fails the build).
    for (const match of dockerfile.matchAll(/^COPY (\S+\/package\.json) /gm)) {
      expect(existsSync(join(ROOT, match[1] as string)), match[1]).toBe(true);
    }
    expect(dockerfile).toContain('pnpm install --frozen-lockfile');
  });

  it("gives the deps stage's frozen install every file it reads (the lockfile's patches too)", () => {
    // The stage's COPY lines, replayed into an empty directory, then the same install offline
    // (the store this checkout installed from): a file the install reads and the stage does
    // not copy fails the image build.
    const deps = dockerfile.split(/^FROM /m).find((stage) => /\bAS deps\b/.test(stage)) ?? '';
    const dir = mkdtempSync(join(tmpdir(), 'birdfeed-docker-deps-'));
    try {
      let copies = 0;
      for (const match of deps.matchAll(/^COPY (?!--from)(.+) (\S+)$/gm)) {
        const destination = match[2] as string;
        for (const source of (match[1] as string).split(/\s+/)) {
          const target =
            destination === './'
              ? join(dir, source)
              : join(dir, destination, source.endsWith('/') ? '' : basename(source));
          mkdirSync(dirname(target), { recursive: true });
          cpSync(join(ROOT, source), target, { recursive: true });
          copies += 1;
        }
      }
      expect(copies).toBeGreaterThan(10);
      const install = spawnSync(
        'pnpm',
        ['install', '--frozen-lockfile', '--offline', '--ignore-scripts'],
        { cwd: dir, env: { ...process.env, CI: 'true' }, encoding: 'utf8' },
      );
      expect(install.status, `${install.stdout}\n${install.stderr}`).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('installs the pnpm version package.json pins', () => {
    const pinned = (
      JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { packageManager: string }
    ).packageManager.split('@')[1];
    expect(dockerfile).toContain(`ARG PNPM_VERSION=${pinned}`);
  });
});

describe('.env.example', () => {
  const text = readFileSync(join(ROOT, '.env.example'), 'utf8');
  const listed = new Set(
    [...text.matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((match) => match[1] as string),
  );
  const values: Record<string, string> = {};
  for (const match of text.matchAll(/^([A-Z][A-Z0-9_]+)=(.*)$/gm)) {
    values[match[1] as string] = match[2] as string;
  }

  it('lists every variable the CLI, the apps and the demo read', () => {
    const schemas = [
      envSchema,
      workerEnvSchema,
      schedulerEnvSchema,
      sandboxEnvSchema,
      demoEnvSchema,
    ];
    const read = new Set(schemas.flatMap((schema) => Object.keys(schema.shape)));
    expect(read.size).toBeGreaterThan(20);
    expect([...read].filter((name) => !listed.has(name)).sort()).toEqual([]);
  });

  it('parses as it stands: its values are valid for every schema', () => {
    for (const schema of [
      envSchema,
      workerEnvSchema,
      schedulerEnvSchema,
      sandboxEnvSchema,
      demoEnvSchema,
    ]) {
      const result = schema.safeParse(values);
      expect(result.success, JSON.stringify(result.error?.issues)).toBe(true);
    }
    // An empty budget would be a budget of 0 cents: it must stay commented out.
    expect(values).not.toHaveProperty('AGNTDATA_DAILY_BUDGET_CENTS');
  });

  it('names every variable docker-compose.yml interpolates', () => {
    const compose = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
    const interpolated = new Set(
      [...compose.matchAll(/\$\{([A-Z][A-Z0-9_]+)/g)].map((match) => match[1] as string),
    );
    expect([...interpolated].filter((name) => !listed.has(name)).sort()).toEqual([]);
  });
});
