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
    const userId = decodeURIComponent(parts[3] ?? '');
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
    const since = Number(query.get('since') ?? '0');
    const limit = Number(query.get('limit') ?? String(options.requestLogSize));
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
      const request = parseControlBody(body);
      if (request.timeScale !== undefined) clock.setTimeScale(Number(request.timeScale));
      if (request.frozen !== undefined) clock.setFrozen(Boolean(request.frozen));
      if (request.advanceMs !== undefined) clock.advance(Number(request.advanceMs));
      if (request.advance !== undefined) clock.advance(parseDuration(String(request.advance)));
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
      const request = parseControlBody(body);
      if (request.clear === true) faults.clear();
      const rules: FaultRule[] = [];
      if (typeof request.spec === 'string') rules.push(...parseFaultSpec(request.spec));
      if (Array.isArray(request.rules)) {
        request.rules.forEach((rule, i) => {
          rules.push(validateFaultRule(rule, `rules[${i}]`));
        });
      }
      faults.add(rules);
    }
    return json(200, { rules: faults.list() });
  }
  if (what === 'health') return json(200, { ok: true });
  return json(404, { error: `no control endpoint ${method} ${path}` });
}

function parseControlBody(body: string): Record<string, unknown> {
  if (body.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new RangeError('control body: expected JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RangeError('control body: expected a JSON object');
  }
  return value as Record<string, unknown>;
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
