/**
 * The first round of an offboarding's follow-up work as one activity, `firstFollowupRound`: the asset
 * recovery plan and every return request, the benefits and payroll notifications, the exit survey, the
 * data archiving with its confirmation and the NDA sent for signature. Each of these is otherwise an
 * activity of its own, and each activity costs Temporal a task, a poll and a workflow task for its
 * result; in a mass layoff that overhead took CPU from the revocations.
 *
 * Every part is the same code as its own activity (idempotent), run once, in order; a part that fails is
 * reported, not retried here: the workflow runs whatever the round did not report done as its own
 * activity, with that activity's retries and error handling, so the outcome is the same either way.
 * Parts are paced by the worker's follow-up pace (WORKER_FOLLOWUP_ACTIVITIES_PER_SECOND), one turn each,
 * so a burst of departures' paperwork is no heavier for the machine or the targets than before; while
 * the worker revokes (a layoff), at the slower WORKER_FOLLOWUP_PARTS_PER_SECOND_WHILE_REVOKING, so
 * the revocations get the machine and the paperwork catches up after them.
 */
import { Context, sleep as activitySleep } from '@temporalio/activity';
import { FIRST_ROUND_PARTS } from '../contract';
import { sql, type Db } from '../lib/db';
import type { createAssetActivities } from './assets';
import type { createDocumentActivities } from './documents';

type AssetActivities = ReturnType<typeof createAssetActivities>;
type DocumentActivities = ReturnType<typeof createDocumentActivities>;

/** What `firstFollowupRound` did. */
export interface FirstRoundResult {
  /** The asset recovery plan (null when planning failed: the workflow plans again on its own). */
  assetPlan: Awaited<ReturnType<AssetActivities['planAssetRecovery']>> | null;
  /** Recovery ids whose return was requested. */
  requested: string[];
  /** Document parts done (`FIRST_ROUND_PARTS`). */
  done: string[];
  /** Parts that failed, with the error (they run again as their own activities). */
  failed: { part: string; error: string }[];
  /** True when the round stopped because the termination was rescinded (the rest was not done). */
  halted?: boolean;
  /** With the archiving confirmation done: the data sources whose archive awaits its owner's word. */
  archivesPending?: string[];
}

/** Raised inside a round when the termination was rescinded: the parts after it do not run. */
class RoundHalted extends Error {}

/**
 * Counts the revocation work running in this process (sweeps and step activities), so that the
 * paperwork can give way to it: revocations first.
 */
export interface RevocationGauge {
  /** Runs `work` counted as revocation work in flight. */
  track<T>(work: () => Promise<T>): Promise<T>;
  /** True while revocation work runs here, and for `quietMs` after the last of it ended. */
  busy(): boolean;
}

/** A gauge of this process's revocation work; `quietMs` after the last ends, it is no longer busy. */
export function createRevocationGauge(quietMs = 2_000): RevocationGauge {
  let inFlight = 0;
  let lastEnded = -Infinity;
  return {
    async track(work) {
      inFlight++;
      try {
        return await work();
      } finally {
        inFlight--;
        lastEnded = Date.now();
      }
    },
    busy: () => inFlight > 0 || Date.now() - lastEnded < quietMs,
  };
}

/**
 * Spaces calls `1 / perSecond` apart in this process, shared by every first round running in it; while
 * `slower.busy()` (revocations in flight) the next turn comes `1 / slower.perSecond` after the last.
 */
export function createPacer(
  perSecond: number | undefined,
  slower?: { busy: () => boolean; perSecond: number },
): () => Promise<void> {
  if (!perSecond || !Number.isFinite(perSecond)) return async () => {};
  const interval = 1000 / perSecond;
  const busyInterval = slower ? 1000 / Math.min(slower.perSecond, perSecond) : interval;
  let next = 0;
  return async () => {
    const now = Date.now();
    const at = Math.max(now, next);
    next = at + (slower?.busy() ? busyInterval : interval);
    if (at > now) await activitySleep(at - now);
  };
}

function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/** The first-round activity, over the asset and document activities of the same worker. */
export function createFollowupActivities(deps: {
  db: Pick<Db, 'pool'>;
  assets: Pick<AssetActivities, 'planAssetRecovery' | 'requestAssetReturn'>;
  documents: Pick<
    DocumentActivities,
    | 'sendBenefitsAndPayrollNotifications'
    | 'sendExitSurvey'
    | 'archiveDataSource'
    | 'recordDataArchivingConfirmation'
    | 'sendNdaForSignature'
  >;
  /** Parts per second in this process (the follow-up pace); undefined = unpaced. */
  partsPerSecond?: number;
  /** The pace while `revocations.busy()` (at most `partsPerSecond`); undefined = no slower pace. */
  partsPerSecondWhileRevoking?: number;
  /** Revocation work in flight in this process. */
  revocations?: Pick<RevocationGauge, 'busy'>;
}) {
  const { assets, documents } = deps;
  const turn = createPacer(
    deps.partsPerSecond,
    deps.revocations && deps.partsPerSecondWhileRevoking
      ? { busy: deps.revocations.busy, perSecond: deps.partsPerSecondWhileRevoking }
      : undefined,
  );
  return {
    /**
     * Runs the first round of a departure's asset recovery and documents (see the module comment) and
     * reports what it did; never throws for a part (each is reported in `failed`). Before each part it
     * reads whether the termination was rescinded and stops if so (`halted`). Not retried by the
     * workflow: a round that does not return leaves every part to its own activity.
     */
    async firstFollowupRound(input: {
      departureId: string;
      dataSourceIds: string[];
    }): Promise<FirstRoundResult> {
      const ctx = Context.current();
      const ids = { departureId: input.departureId };
      const result: FirstRoundResult = { assetPlan: null, requested: [], done: [], failed: [] };
      // Alive while a part (or its turn) takes long: a lost worker shows within the heartbeat timeout.
      let last = 'start';
      const beat = setInterval(() => ctx.heartbeat(last), 5_000);
      const part = async (name: string, fn: () => Promise<unknown>): Promise<boolean> => {
        await turn();
        last = name;
        // The API and the intake store a rescission (a `rescind` message) before they signal it, and
        // the workflow records one it got otherwise (`noteRescission`): read as the sweep reads it.
        const { rowCount } = await sql(
          deps.db,
          `SELECT 1 WHERE EXISTS (SELECT 1 FROM "WorkflowMessage" WHERE "departureId" = $1 AND kind = 'rescind')
                       OR EXISTS (SELECT 1 FROM "Departure" WHERE id = $1 AND "rescindedAt" IS NOT NULL)`,
          [input.departureId],
        );
        if (rowCount) throw new RoundHalted();
        try {
          await fn();
          return true;
        } catch (err) {
          result.failed.push({ part: name, error: errorText(err) });
          return false;
        } finally {
          ctx.heartbeat(name);
        }
      };
      /** Every part, in order. */
      const parts = async () => {
        await part('asset_plan', async () => {
          result.assetPlan = await assets.planAssetRecovery(ids);
        });
        for (const a of result.assetPlan?.assets ?? []) {
          if (
            await part(`request:${a.recoveryId}`, () =>
              assets.requestAssetReturn({ ...ids, recoveryId: a.recoveryId }),
            )
          )
            result.requested.push(a.recoveryId);
        }
        const doc = async (name: string, fn: () => Promise<unknown>) => {
          if (await part(name, fn)) result.done.push(name);
        };
        await doc(FIRST_ROUND_PARTS.notifications, () => documents.sendBenefitsAndPayrollNotifications(ids));
        await doc(FIRST_ROUND_PARTS.exitSurvey, () => documents.sendExitSurvey(ids));
        let archived = true;
        for (const sourceId of input.dataSourceIds) {
          const name = FIRST_ROUND_PARTS.archive(sourceId);
          await doc(name, () => documents.archiveDataSource({ ...ids, sourceId }));
          archived &&= result.done.includes(name);
        }
        if (archived)
          await doc(FIRST_ROUND_PARTS.archiveConfirmation, async () => {
            result.archivesPending = (await documents.recordDataArchivingConfirmation(ids)).pending;
          });
        await doc(FIRST_ROUND_PARTS.nda, () => documents.sendNdaForSignature(ids));
      };
      try {
        await parts();
      } catch (err) {
        if (!(err instanceof RoundHalted)) throw err;
        result.halted = true;
      } finally {
        clearInterval(beat);
      }
      ctx.log.info('first follow-up round', {
        departureId: input.departureId,
        done: result.done.length + result.requested.length + (result.assetPlan ? 1 : 0),
        failed: result.failed.map((f) => f.part),
        halted: result.halted ?? false,
      });
      return result;
    },
  };
}
