/**
 * What the sandbox served, for tests and the demo: counters per credential and endpoint, and
 * a bounded log of requests with the parameters that drive a crawl (never the token itself:
 * a credential appears by its label).
 */
export interface RequestLogEntry {
  seq: number;
  at: string;
  sandboxAt: string;
  provider: 'x' | 'agntdata' | null;
  endpoint: string;
  method: string;
  credential: string | null;
  status: number;
  fault: string | null;
  params: Record<string, string>;
}

type Counter = Record<string, Record<string, number>>;

export interface StatsSnapshot {
  accounts: string[];
  requests: { total: number; by_credential: Counter };
  rate_limited: { total: number; by_credential: Counter };
  faults: { total: number; by_credential: Record<string, Record<string, Record<string, number>>> };
  spend_cents: { total: number; by_credential: Record<string, number> };
  unauthorized: number;
}

function bump(counter: Counter, credential: string, endpoint: string): void {
  const byEndpoint = counter[credential] ?? {};
  byEndpoint[endpoint] = (byEndpoint[endpoint] ?? 0) + 1;
  counter[credential] = byEndpoint;
}

function total(counter: Counter): number {
  let sum = 0;
  for (const byEndpoint of Object.values(counter)) {
    for (const value of Object.values(byEndpoint)) sum += value;
  }
  return sum;
}

export class SandboxStats {
  private requests: Counter = {};
  private rateLimited: Counter = {};
  private faults: Record<string, Record<string, Record<string, number>>> = {};
  private spend: Record<string, number> = {};
  private unauthorized = 0;
  private log: RequestLogEntry[] = [];
  private seq = 0;

  constructor(private readonly logSize: number) {}

  countRequest(credential: string, endpoint: string): void {
    bump(this.requests, credential, endpoint);
  }

  countRateLimited(credential: string, endpoint: string): void {
    bump(this.rateLimited, credential, endpoint);
  }

  countFault(credential: string, endpoint: string, kind: string): void {
    const byEndpoint = this.faults[credential] ?? {};
    const byKind = byEndpoint[endpoint] ?? {};
    byKind[kind] = (byKind[kind] ?? 0) + 1;
    byEndpoint[endpoint] = byKind;
    this.faults[credential] = byEndpoint;
  }

  countSpend(credential: string, cents: number): void {
    this.spend[credential] = (this.spend[credential] ?? 0) + cents;
  }

  spendOf(credential: string): number {
    return this.spend[credential] ?? 0;
  }

  countUnauthorized(): void {
    this.unauthorized += 1;
  }

  record(entry: Omit<RequestLogEntry, 'seq'>): RequestLogEntry {
    this.seq += 1;
    const full = { seq: this.seq, ...entry };
    this.log.push(full);
    if (this.log.length > this.logSize) this.log.splice(0, this.log.length - this.logSize);
    return full;
  }

  requestLog(sinceSeq = 0, limit = this.logSize): RequestLogEntry[] {
    const entries = this.log.filter((entry) => entry.seq > sinceSeq);
    return entries.slice(Math.max(0, entries.length - limit));
  }

  clearLog(): void {
    this.log = [];
  }

  snapshot(accounts: string[]): StatsSnapshot {
    let faultTotal = 0;
    for (const byEndpoint of Object.values(this.faults)) {
      for (const byKind of Object.values(byEndpoint)) {
        for (const value of Object.values(byKind)) faultTotal += value;
      }
    }
    return {
      accounts,
      requests: { total: total(this.requests), by_credential: structuredClone(this.requests) },
      rate_limited: {
        total: total(this.rateLimited),
        by_credential: structuredClone(this.rateLimited),
      },
      faults: { total: faultTotal, by_credential: structuredClone(this.faults) },
      spend_cents: {
        total: Object.values(this.spend).reduce((sum, value) => sum + value, 0),
        by_credential: { ...this.spend },
      },
      unauthorized: this.unauthorized,
    };
  }
}
