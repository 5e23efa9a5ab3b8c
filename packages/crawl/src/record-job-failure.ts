import {
  type BirdfeedExecutor,
  failOrphanedRun,
  finishRun,
  getCheckpoint,
  getRun,
  recordFailure,
  type TargetKey,
  updateFailureJob,
} from '@birdfeed/db';
import { describeError, recordedFailureId } from './errors.ts';

export interface RecordJobFailureInput extends TargetKey {
  /** The run the failed page belonged to; omitted = the target's run in progress, if any. */
  runId?: string | null | undefined;
  jobId?: string | null | undefined;
  /** Which attempt failed (1-based). @defaultValue 1 */
  attempt?: number | undefined;
  error: unknown;
  /**
   * True when the transport gives up on the run (no retry left): the run is closed as
   * 'failed'. False for an attempt that will be retried. @defaultValue true
   */
  final?: boolean | undefined;
}

export interface RecordedJobFailure {
  failureId: string;
  runId: string | null;
  /** True when this call closed the run. */
  runFinished: boolean;
}

/**
 * What the transport calls when a page fails for good (or, with `final: false`, when it wants
 * one attempt on record): a crawl_failures row that outlives the job in Redis, and the run
 * closed as failed. The checkpoint is left alone: its saved cursor is where the next run
 * resumes. A failure the step already recorded (an invalid body, with its raw page) is
 * completed with the job id instead of being counted twice.
 */
export async function recordJobFailure(
  db: BirdfeedExecutor,
  input: RecordJobFailureInput,
): Promise<RecordedJobFailure> {
  const key: TargetKey = { provider: input.provider, userId: input.userId };
  let runId = input.runId ?? null;
  if (runId === null) {
    const checkpoint = await getCheckpoint(db, key);
    if (checkpoint?.runId != null) {
      const run = await getRun(db, checkpoint.runId);
      if (run?.outcome === 'running') runId = run.id;
    }
  }
  const described = describeError(input.error);
  const reason = `${described.name}: ${described.message}`.slice(0, 2000);
  // One transaction: whoever sees the failure's job id also sees the run closed.
  const { failureId, runFinished } = await db.transaction(async (tx) => {
    let id = recordedFailureId(input.error);
    if (id === undefined) {
      id = await recordFailure(tx, {
        ...key,
        runId,
        jobId: input.jobId ?? null,
        attempt: input.attempt ?? 1,
        errorName: described.name,
        errorMessage: described.message,
        status: described.status ?? null,
      });
    } else {
      await updateFailureJob(tx, id, { jobId: input.jobId ?? null, attempt: input.attempt });
    }
    const finished =
      runId !== null && input.final !== false
        ? (await finishRun(tx, runId, 'failed', reason)) ||
          (await failOrphanedRun(tx, runId, reason))
        : false;
    return { failureId: id, runFinished: finished };
  });
  return { failureId, runId, runFinished };
}
