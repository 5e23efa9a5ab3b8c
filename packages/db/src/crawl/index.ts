export type {
  CheckpointVersion,
  CrawlCheckpoint,
} from './checkpoints.ts';
export {
  attachRun,
  countInvalidPage,
  ensureCheckpoint,
  getCheckpoint,
  resetWindow,
  resumeWindowBelow,
} from './checkpoints.ts';
export type { CrawlFailure, FailureInput } from './failures.ts';
export { listFailures, recordFailure, updateFailureJob } from './failures.ts';
export type { CrawlGap, GapReason } from './gaps.ts';
export { listGaps, recordGap } from './gaps.ts';
export { openOrAdoptRun } from './open-run.ts';
export type { PageTransition, WindowMove } from './page-transition.ts';
export { commitPageTransition } from './page-transition.ts';
export type { PruneCount, PruneOptions, PruneResult } from './prune.ts';
export { pruneHistory } from './prune.ts';
export type { CrawlRun, RunProgress } from './runs.ts';
export {
  addRunProgress,
  closeOrphanedRun,
  failOrphanedRun,
  finishRun,
  getRun,
  listRuns,
  noteSucceededRun,
  ORPHANED_RUN_ERROR,
  startRun,
} from './runs.ts';
export { CRAWL_TABLES, missingTables } from './schema-check.ts';
export type { Spend, SpendInput, SpendReservation } from './spend.ts';
export { addSpend, reserveSpend, spendDay, spentToday } from './spend.ts';
export type { StatusReport, TargetStatus } from './status-report.ts';
export { statusReport } from './status-report.ts';
export type { CrawlStepState } from './step-state.ts';
export { readCrawlStepState } from './step-state.ts';
export type {
  AddTargetInput,
  ClaimDueTargetsOptions,
  ListTargetsOptions,
  WatchTarget,
} from './targets.ts';
export {
  claimDueTargets,
  claimTarget,
  countDueTargets,
  databaseNow,
  getTarget,
  listTargets,
  markTargetUnavailable,
  releaseClaim,
  setTargetEnabled,
  touchTargetLastRun,
  upsertTarget,
} from './targets.ts';
export type { CrawlKind, RunOutcome, TargetKey, TargetState } from './types.ts';
export {
  DEFAULT_BACKFILL_DEPTH,
  MAX_BACKFILL_DEPTH,
  TARGET_STATES,
} from './types.ts';
