import { describe, expect, it } from 'vitest';
import { parseWorkerEnv } from './env.ts';
import { parseWorkerArgs, WorkerStartError } from './main.ts';

describe('birdfeed worker arguments', () => {
  it('reads --provider (repeatable) and --concurrency', () => {
    expect(
      parseWorkerArgs(['--provider', 'x', '--provider', 'agntdata', '--concurrency', '3']),
    ).toEqual({
      providers: ['x', 'agntdata'],
      concurrency: 3,
    });
    expect(parseWorkerArgs([])).toEqual({ providers: null, concurrency: null });
    expect(parseWorkerArgs(['--help'])).toBe('help');
  });

  it('names the bad argument', () => {
    expect(() => parseWorkerArgs(['--provider', 'bluesky'])).toThrow(WorkerStartError);
    expect(() => parseWorkerArgs(['--concurrency', '0'])).toThrow(/--concurrency/);
    expect(() => parseWorkerArgs(['--concurrency', 'many'])).toThrow(/--concurrency/);
    expect(() => parseWorkerArgs(['--concurrency', '1e1'])).toThrow(/--concurrency "1e1"/);
    expect(() => parseWorkerArgs(['--concurrency', '4', '--concurrency', '8'])).toThrow(
      /--concurrency given twice \(4, then 8\)/,
    );
  });
});

describe('worker environment', () => {
  it('has working defaults', () => {
    const env = parseWorkerEnv({});
    expect(env).toMatchObject({
      WORKER_CONCURRENCY: 4,
      WORKER_JOB_TIMEOUT_MS: 60_000,
      WORKER_LOCK_DURATION_MS: 30_000,
      X_CREDENTIAL_LABEL: 'default',
      X_RATE_LIMIT_MAX: 1500,
    });
  });

  it('refuses a credential label that is not a plain name, naming the variable', () => {
    expect(() => parseWorkerEnv({ X_CREDENTIAL_LABEL: 'Bearer AAAA:bbb' })).toThrow(
      /X_CREDENTIAL_LABEL/,
    );
    expect(() => parseWorkerEnv({ WORKER_X_PAGE_SIZE: '500' })).toThrow(/WORKER_X_PAGE_SIZE/);
  });
});
