import { Rng } from './prng.ts';

/**
 * Faults on demand. A rule either fires at a rate (each request draws once from a seeded
 * generator, so a sequential run is reproducible) or for the next N requests.
 *
 * SPEC syntax (the `--faults` flag, `{"spec": "…"}` on POST /_sandbox/faults): a comma
 * separated list of rules, each `KIND:RATE` (a probability 0..1) or `KIND*N` (the next N
 * requests), optionally followed by `@x` or `@agntdata` to hit one provider only.
 *   500:0.05,503:0.02,hang:0.01@agntdata,429*3,reset*1@x
 * KIND is one of 500, 503, hang (no answer until the client gives up), reset (socket
 * destroyed before any answer), malformed (200 with broken JSON), truncated (200 whose body
 * stops halfway), empty (200 with an empty body), 429 (a 429 with the provider's real body
 * and headers even though the budget is not spent).
 */
export const FAULT_KINDS = [
  '500',
  '503',
  'hang',
  'reset',
  'malformed',
  'truncated',
  'empty',
  '429',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
export type ProviderTag = 'x' | 'agntdata';

export interface FaultRule {
  kind: FaultKind;
  provider?: ProviderTag | undefined;
  /** Probability per request. */
  rate?: number | undefined;
  /** Fire on the next `count` requests. */
  count?: number | undefined;
}

export class FaultSpecError extends Error {
  override readonly name = 'FaultSpecError';
}

function isFaultKind(value: string): value is FaultKind {
  return (FAULT_KINDS as readonly string[]).includes(value);
}

export function parseFaultSpec(spec: string): FaultRule[] {
  const rules: FaultRule[] = [];
  for (const raw of spec.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    const match = /^([a-z0-9]+)(?::([0-9.]+)|\*(\d+))(?:@(x|agntdata))?$/.exec(item);
    if (match === null) {
      throw new FaultSpecError(
        `fault rule "${item}": expected KIND:RATE or KIND*N, optionally @x or @agntdata (e.g. 500:0.05, 429*3@x)`,
      );
    }
    const [, kind = '', rate, count, provider] = match;
    if (!isFaultKind(kind)) {
      throw new FaultSpecError(
        `fault rule "${item}": unknown kind "${kind}" (one of ${FAULT_KINDS.join(', ')})`,
      );
    }
    const rule: FaultRule = { kind, provider: provider as ProviderTag | undefined };
    if (rate !== undefined) {
      const value = Number(rate);
      if (!(value >= 0 && value <= 1)) {
        throw new FaultSpecError(`fault rule "${item}": rate must be between 0 and 1`);
      }
      rule.rate = value;
    } else {
      rule.count = Number(count);
    }
    rules.push(rule);
  }
  return rules;
}

export function validateFaultRule(value: unknown, where: string): FaultRule {
  if (typeof value !== 'object' || value === null)
    throw new FaultSpecError(`${where}: expected an object`);
  const record = value as Record<string, unknown>;
  const kind = String(record.kind);
  if (!isFaultKind(kind)) throw new FaultSpecError(`${where}.kind: unknown kind "${kind}"`);
  const provider = record.provider;
  if (provider !== undefined && provider !== 'x' && provider !== 'agntdata') {
    throw new FaultSpecError(`${where}.provider: expected "x" or "agntdata"`);
  }
  const rule: FaultRule = { kind, provider };
  if (record.rate !== undefined) {
    if (typeof record.rate !== 'number' || !(record.rate >= 0 && record.rate <= 1)) {
      throw new FaultSpecError(`${where}.rate: expected a number between 0 and 1`);
    }
    rule.rate = record.rate;
  } else if (record.count !== undefined) {
    if (typeof record.count !== 'number' || !Number.isInteger(record.count) || record.count < 1) {
      throw new FaultSpecError(`${where}.count: expected an integer >= 1`);
    }
    rule.count = record.count;
  } else {
    throw new FaultSpecError(`${where}: needs "rate" or "count"`);
  }
  return rule;
}

export class FaultInjector {
  private rules: FaultRule[] = [];
  private rng: Rng;

  constructor(private readonly seedHash: number) {
    this.rng = Rng.of(seedHash, 11);
  }

  add(rules: readonly FaultRule[]): void {
    for (const rule of rules) this.rules.push({ ...rule });
  }

  clear(): void {
    this.rules = [];
    this.rng = Rng.of(this.seedHash, 11);
  }

  list(): FaultRule[] {
    return this.rules.map((rule) => ({ ...rule }));
  }

  /** The fault for this request, if any. Counted rules fire first, in the order added. */
  decide(provider: ProviderTag): FaultKind | null {
    if (this.rules.length === 0) return null;
    for (const rule of this.rules) {
      if (rule.count !== undefined && rule.count > 0 && (rule.provider ?? provider) === provider) {
        rule.count -= 1;
        if (rule.count === 0) this.rules = this.rules.filter((other) => other !== rule);
        return rule.kind;
      }
    }
    const draw = this.rng.next();
    let cumulative = 0;
    for (const rule of this.rules) {
      if (rule.rate === undefined || (rule.provider ?? provider) !== provider) continue;
      cumulative += rule.rate;
      if (draw < cumulative) return rule.kind;
    }
    return null;
  }
}
