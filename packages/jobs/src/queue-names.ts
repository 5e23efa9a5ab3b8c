import type { ProviderName } from '@birdfeed/model';
import { PROVIDER_NAMES } from '@birdfeed/model';

/**
 * One queue per provider credential, because the provider's budget belongs to the credential:
 * two tokens are two budgets, two limiters, two queues. The label is an operator-chosen name
 * for the credential ("default", "team-b"), never the token itself, since queue names end up
 * in Redis keys, logs and `birdfeed status`.
 *
 * BullMQ refuses ':' in a queue name (it is its own key separator), hence the dots:
 * `crawl.x.default` lives under the keys `<prefix>:crawl.x.default:*`.
 */
export const DEFAULT_CREDENTIAL_LABEL = 'default';

const LABEL_PATTERN = /^[a-z0-9][a-z0-9_-]{0,39}$/;
const QUEUE_NAME_PATTERN = /^crawl\.(x|agntdata)\.([a-z0-9][a-z0-9_-]{0,39})$/;

export class QueueNameError extends Error {
  override readonly name = 'QueueNameError';
}

export interface CrawlQueueRef {
  provider: ProviderName;
  credentialLabel: string;
}

export function assertCredentialLabel(label: string): string {
  if (!LABEL_PATTERN.test(label)) {
    throw new QueueNameError(
      `credential label ${JSON.stringify(label.slice(0, 60))} is invalid: use 1-40 characters of a-z, 0-9, '-' or '_' (a name for the credential, not the token)`,
    );
  }
  return label;
}

export function crawlQueueName(
  provider: ProviderName,
  credentialLabel: string = DEFAULT_CREDENTIAL_LABEL,
): string {
  if (!PROVIDER_NAMES.includes(provider)) {
    throw new QueueNameError(`unknown provider ${JSON.stringify(provider)}`);
  }
  return `crawl.${provider}.${assertCredentialLabel(credentialLabel)}`;
}

/** The inverse of {@link crawlQueueName}; null for a queue birdfeed does not own. */
export function parseCrawlQueueName(name: string): CrawlQueueRef | null {
  const match = QUEUE_NAME_PATTERN.exec(name);
  if (match === null) return null;
  return { provider: match[1] as ProviderName, credentialLabel: match[2] as string };
}

/**
 * The deduplication id of a target's crawl: every page job of one run carries it, so while a
 * run is in flight (waiting, active, delayed for a retry) the scheduler cannot start another.
 */
export function targetDeduplicationId(provider: ProviderName, userId: string): string {
  return `${provider}:${userId}`;
}

/**
 * A page job's id: stable, so re-adding the same page of the same run (a retried enqueue, a
 * re-run after a crash) is a no-op in BullMQ rather than a second request.
 */
export function crawlPageJobId(
  provider: ProviderName,
  userId: string,
  runId: string,
  page: number,
): string {
  return `${provider}.${userId}.${runId}.${page}`;
}
