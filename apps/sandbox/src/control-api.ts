import { z } from 'zod';
import { clockProblem } from './clock.ts';
import { type FaultRule, parseFaultSpec, validateFaultRule } from './faults.ts';
import { json, type SandboxResponse } from './responses.ts';
import type { ServerParts } from './server.ts';
import { truthOf } from './truth.ts';

/**
 * The sandbox's own endpoints under /_sandbox/ (no auth): truth, stats, the request log, the
 * accounts, the clock and the faults. What a test or the demo uses to drive and check it.
 */
export function controlRequest(
  sandbox: ServerParts,
  method: string,
  path: string,
  query: URLSearchParams,
  body: string,
): SandboxResponse {
  const { world, clock, stats, faults, options } = sandbox;
  const parts = path.split('/');
  const what = parts[2] ?? '';
  if (what === 'truth' && method === 'GET' && parts.length === 4) {
    const userId = decodePathSegment(parts[3] ?? '');
    const account = world.accountById(userId);
    if (account === undefined) return json(404, { error: `no sandbox account with id ${userId}` });
    return json(200, truthOf(world, account, clock.now(), options.xTimelineCap));
  }
  if (what === 'stats' && method === 'GET') {
    return json(200, stats.snapshot(world.accounts.map((account) => account.id)));
  }
  if (what === 'requests') {
    if (method === 'DELETE') {
      stats.clearLog();
      return json(200, { cleared: true });
    }
    const since = countParam(query, 'since', 0);
    const limit = countParam(query, 'limit', options.requestLogSize);
    return json(200, { requests: stats.requestLog(since, limit) });
  }
  if (what === 'accounts' && method === 'GET') {
    const status = query.get('status');
    const now = clock.now();
    return json(200, {
      accounts: world.accounts
        .filter((account) => status === null || account.status === status)
        .map((account) => ({
          id: account.id,
          username: account.username,
          status: account.status,
          activity: account.activity,
          tweet_count: world.timeline(account).countAt(now),
        })),
    });
  }
  if (what === 'clock') {
    if (method === 'POST') {
      // Everything is checked before anything is applied: a bad field changes nothing.
      const request = parseControlBody(body, clockBody, 'POST /_sandbox/clock');
      const advance =
        request.advance === undefined
          ? undefined
          : typeof request.advance === 'number'
            ? request.advance
            : parseDuration(request.advance);
      // The clock it would become, checked whole: a time past what a Date or a snowflake
      // holds left every later request failing ("Invalid time value") until a restart.
      const problem = clockProblem(
        clock.now() + (request.advanceMs ?? 0) + (advance ?? 0),
        request.timeScale ?? clock.timeScale,
      );
      if (problem !== undefined) throw new RangeError(`POST /_sandbox/clock: ${problem}`);
      if (request.timeScale !== undefined) clock.setTimeScale(request.timeScale);
      if (request.frozen !== undefined) clock.setFrozen(request.frozen);
      if (request.advanceMs !== undefined) clock.advance(request.advanceMs);
      if (advance !== undefined) clock.advance(advance);
    }
    const state = clock.state();
    return json(200, {
      now: new Date(state.now).toISOString(),
      now_ms: state.now,
      time_scale: state.timeScale,
      frozen: state.frozen,
    });
  }
  if (what === 'faults') {
    if (method === 'DELETE') faults.clear();
    if (method === 'POST') {
      const request = parseControlBody(body, faultsBody, 'POST /_sandbox/faults');
      const rules: FaultRule[] = [];
      if (request.spec !== undefined) rules.push(...parseFaultSpec(request.spec));
      request.rules?.forEach((rule, i) => {
        rules.push(validateFaultRule(rule, `rules[${i}]`));
      });
      if (request.clear === true) faults.clear();
      faults.add(rules);
    }
    return json(200, { rules: faults.list() });
  }
  if (what === 'health') return json(200, { ok: true });
  return json(404, { error: `no control endpoint ${method} ${path}` });
}

const clockBody = z.strictObject({
  timeScale: z.number().finite().positive().optional(),
  frozen: z.boolean().optional(),
  advanceMs: z.number().finite().nonnegative().optional(),
  advance: z.union([z.string(), z.number().finite().nonnegative()]).optional(),
});

const faultsBody = z.strictObject({
  clear: z.boolean().optional(),
  spec: z.string().optional(),
  rules: z.array(z.unknown()).optional(),
});

/**
 * A control body: empty, or a JSON object with only the fields `schema` names, each of its
 * type. A misspelt key is refused rather than ignored: a test that meant to unfreeze the
 * clock must not go on with it frozen.
 */
function parseControlBody<T>(body: string, schema: z.ZodType<T>, where: string): T {
  if (body.trim() === '') return schema.parse({});
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new RangeError(`${where}: the body is not JSON`);
  }
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = issue?.path.length ? issue.path.join('.') : 'body';
  const what =
    issue?.code === 'unrecognized_keys'
      ? `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((key) => `"${key}"`).join(', ')}`
      : `${path}: ${issue?.message ?? 'invalid'}`;
  throw new RangeError(`${where}: ${what}`);
}

/** A non-negative integer query parameter, or `fallback` when it is absent. */
function countParam(query: URLSearchParams, name: string, fallback: number): number {
  const text = query.get(name);
  if (text === null) return fallback;
  if (!/^\d{1,15}$/.test(text)) {
    throw new RangeError(`query parameter ${name}: expected a whole number >= 0, got "${text}"`);
  }
  return Number(text);
}

/** A path segment percent-decoded; one that is not valid percent-encoding stays as it came. */
export function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** "15m", "90s", "2h", "500ms", "1d" or a number of ms. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (match === null)
    throw new RangeError(`duration "${text}": expected e.g. 500ms, 90s, 15m, 2h, 1d`);
  const value = Number(match[1]);
  const unit = match[2] ?? 'ms';
  const factor = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit] ?? 1;
  return value * factor;
}
