import type { ProviderName } from '@birdfeed/model';

/** A watched timeline: one account on one provider. */
export interface TargetKey {
  provider: ProviderName;
  userId: string;
}

/** `failing`: birdfeed stopped it itself (see markTargetFailing); the others: the provider. */
export type TargetState =
  | 'active'
  | 'not_found'
  | 'suspended'
  | 'protected'
  | 'deleted'
  | 'failing';
export const TARGET_STATES: readonly TargetState[] = [
  'active',
  'not_found',
  'suspended',
  'protected',
  'deleted',
  'failing',
];

export type CrawlKind = 'backfill' | 'incremental';
export type RunOutcome = 'running' | 'succeeded' | 'failed' | 'unavailable' | 'cancelled';

/** The deepest a timeline can be read: X serves only the newest 3,200 tweets of an account. */
export const MAX_BACKFILL_DEPTH = 3200;
export const DEFAULT_BACKFILL_DEPTH = 800;
