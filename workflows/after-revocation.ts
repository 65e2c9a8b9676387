/**
 * Steps 3 and 4 of an offboarding, run by `offboardingWorkflow` once every credential is revoked:
 * asset recovery (one branch per asset with two escalation windows, durable timers) and the compliance
 * documents (NDA signature with reminders and a deadline, benefits and payroll notifications, exit
 * survey, data archiving). Deterministic: activities only, timers only through `condition`.
 */
import { condition, log, patched, proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  FIRST_ROUND_PARTS,
  NON_RETRYABLE_ERROR_TYPES,
  type ArchiveConfirmation,
  type AssetReceipt,
  type AssetView,
  type DocumentView,
} from '../contract';

const OPTIONS: ActivityOptions = {
  startToCloseTimeout: '1m',
  retry: {
    initialInterval: '2s',
    backoffCoefficient: 2,
    maximumInterval: '5m',
    maximumAttempts: 10,
    nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES],
  },
};

/** The activities of steps 3 and 4, on the follow-up task queue when the state names one. */
function activitiesOf(s: AfterRevocationState) {
  return proxyActivities<Activities>(s.taskQueue ? { ...OPTIONS, taskQueue: s.taskQueue } : OPTIONS);
}

/**
 * The first round as one activity: time for every part plus their turns at the worker's pace, a
 * heartbeat after each part, and no retry (whatever it does not report done runs as its own activity).
 */
const FIRST_ROUND_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '10m',
  heartbeatTimeout: '30s',
  retry: { maximumAttempts: 1 },
};

/** What `firstFollowupRound` reports. */
type FirstRoundResult = Awaited<ReturnType<Activities['firstFollowupRound']>>;

const HOUR = 3_600_000;

/** When the NDA is reminded and when it expires unsigned. */
export interface NdaSettings {
  reminderEveryHours: number;
  deadlineDays: number;
}

/** Waits until `done()` or the instant `untilIso`; true when `done()` held. */
async function waitUntil(done: () => boolean, untilIso: string): Promise<boolean> {
  const ms = Date.parse(untilIso) - Date.now();
  if (done()) return true;
  if (ms <= 0) return false;
  return condition(done, ms);
}

function failureText(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** State the workflow shares with this module (its handlers fill `receipts` and `signed`). */
export interface AfterRevocationState {
  departureId: string;
  assets: AssetView[];
  documents: DocumentView[];
  /** Asset receipts from the IT desk, by asset tag. */
  receipts: Map<string, AssetReceipt>;
  /** Documents signed on the signing page, by document type. */
  signed: Set<string>;
  /** True once the termination is rescinded: nothing new starts. */
  halted: () => boolean;
  /**
   * The follow-up task queue (`followupTaskQueue`) these activities run on, paced by the worker so that
   * a burst of departures' paperwork never holds up the revocations behind it; unset in offboardings
   * started before the queue existed (their activities stay on the workflow's queue).
   */
  taskQueue?: string;
  /** What the first-round activity did (`firstRound`); unset: every part runs as its own activity. */
  firstRound?: FirstRoundResult;
  /**
   * Data sources whose archive awaits its owner's word (`archiveConfirmedSignal`): while any does, the
   * data-archiving confirmation is `pending` (yellow in the report). Null until the confirmation is made.
   */
  archivesPending: Set<string> | null;
  /** Data sources confirmed archived in this run (a confirmation can overtake the pending list). */
  archivesConfirmed: Set<string>;
  /** How many times the personal email was filled in or corrected in this run (`contactUpdatedSignal`). */
  contactUpdates: number;
  /**
   * Per step that goes to the leaver's personal address (`doc:<type>`, `asset:<tag>`): the value of
   * `contactUpdates` when its last attempt started. A failed one with an older value runs again.
   */
  contactSeen: Map<string, number>;
  /** Asset tags whose return request failed (nothing went out, so it can be made again). */
  requestFailed: Set<string>;
  /** Asset tags whose late receipt (`lateFollowUps`) was tried. */
  receiptsTried: Set<string>;
  /** Work of `lateFollowUps` that has not finished yet. */
  lateWork: number;
}

/**
 * Runs the first round of the follow-up work as one activity (`firstFollowupRound`) and keeps what it
 * did in `s.firstRound`, so `recoverAssets` and `produceDocuments` run only the rest. A round that fails
 * as a whole (a worker lost mid-round) leaves every part to its own activity; each is idempotent.
 */
export async function firstRound(s: AfterRevocationState, dataSourceIds: string[]): Promise<void> {
  const acts = proxyActivities<Activities>(
    s.taskQueue ? { ...FIRST_ROUND_OPTIONS, taskQueue: s.taskQueue } : FIRST_ROUND_OPTIONS,
  );
  try {
    s.firstRound = await acts.firstFollowupRound({ departureId: s.departureId, dataSourceIds });
    // It stopped at a rescission stored by the API or the intake, whose signal follows: wait for it
    // rather than run the rest (the wait is bounded: without the signal the rest runs as before).
    if (s.firstRound.halted) await condition(s.halted, '5 minutes');
    if (s.firstRound.failed.length > 0)
      log.warn('first follow-up round: parts failed, each runs again on its own', {
        failed: s.firstRound.failed,
      });
  } catch (err) {
    log.warn('first follow-up round failed: every part runs on its own', { error: failureText(err) });
  }
}

/**
 * Recovers every asset: the return request (remote: personal email, shipping label, marked "return in
 * progress"; in office: appointment with an .ics invite), then per asset a wait for `assetReceived` up
 * to the first window (IT owner told), then the second (department head told, recovery plan recorded).
 */
export async function recoverAssets(s: AfterRevocationState): Promise<void> {
  const acts = activitiesOf(s);
  const first = s.firstRound;
  const plan = first?.assetPlan ?? (await acts.planAssetRecovery({ departureId: s.departureId }));
  if (plan.assets.length === 0) {
    log.info('no assets assigned: recorded');
    return;
  }
  for (const a of plan.assets) {
    s.assets.push({
      recoveryId: a.recoveryId,
      assetTag: a.assetTag,
      assetName: a.assetName,
      route: plan.route,
      status: 'pending',
      dueAt: plan.dueAt,
      secondDueAt: plan.secondDueAt,
      receivedAt: null,
      lastError: null,
    });
  }
  await Promise.all(
    s.assets.map((view) => recoverAsset(s, view, first?.requested.includes(view.recoveryId) ?? false)),
  );
}

/**
 * One asset: its return request (unless `requested`), then the wait for `assetReceived` up to the first
 * window (IT owner told) and the second (department head told, recovery plan recorded). Waits end early
 * at `stop` (a rescission; for a request made again, also the end of the offboarding).
 */
async function recoverAsset(
  s: AfterRevocationState,
  view: AssetView,
  requested: boolean,
  stop: () => boolean = s.halted,
): Promise<void> {
  const acts = activitiesOf(s);
  const received = () => s.receipts.has(view.assetTag);
  try {
    if (requested) view.status = 'requested';
    if (s.halted()) return;
    if (view.status !== 'requested') {
      s.contactSeen.set(`asset:${view.assetTag}`, s.contactUpdates);
      try {
        await acts.requestAssetReturn({ departureId: s.departureId, recoveryId: view.recoveryId });
      } catch (err) {
        s.requestFailed.add(view.assetTag);
        throw err;
      }
      view.status = 'requested';
    }
    if (!(await waitUntil(() => received() || stop(), view.dueAt))) {
      await acts.escalateOverdueAsset({
        departureId: s.departureId,
        recoveryId: view.recoveryId,
        level: 'it_owner',
      });
      view.status = 'escalated_it';
      if (!(await waitUntil(() => received() || stop(), view.secondDueAt))) {
        await acts.escalateOverdueAsset({
          departureId: s.departureId,
          recoveryId: view.recoveryId,
          level: 'department_head',
        });
        view.status = 'escalated_department_head';
        return;
      }
    }
    const receipt = s.receipts.get(view.assetTag);
    if (!receipt) return; // halted
    await acts.recordAssetReceipt({ departureId: s.departureId, receipt });
    view.status = 'received';
    view.receivedAt = new Date().toISOString();
  } catch (err) {
    view.lastError = failureText(err);
    view.status = 'failed';
    log.warn('asset recovery step failed', { assetTag: view.assetTag, error: view.lastError });
  }
}

/** Records which archives still wait (less those confirmed meanwhile); true when any does. */
function archivesPendingFrom(s: AfterRevocationState, pending: string[]): boolean {
  s.archivesPending = new Set(pending.filter((id) => !s.archivesConfirmed.has(id)));
  return s.archivesPending.size > 0;
}

/**
 * An archive confirmed by its owner (`archiveConfirmedSignal`, run by its handler): recorded, the
 * data-archiving confirmation generated again, and the document green once no archive waits. A failure
 * is logged and leaves the document as it was (the API checked the archive exists before signalling).
 */
export async function confirmArchive(s: AfterRevocationState, c: ArchiveConfirmation): Promise<void> {
  if (s.archivesConfirmed.has(c.sourceId)) return; // The first confirmation stands.
  s.archivesConfirmed.add(c.sourceId);
  const acts = activitiesOf(s);
  const v = documentView(s, 'data_archiving_confirmation');
  try {
    await acts.confirmArchive({ departureId: s.departureId, confirmation: c });
    const r = await acts.recordDataArchivingConfirmation({ departureId: s.departureId });
    // What the database says waits now (after a continue-as-new this run never saw the list).
    if (!archivesPendingFrom(s, r.pending) && v.status === 'pending') v.status = 'generated';
    v.sha256 = r.sha256;
    v.updatedAt = new Date().toISOString();
  } catch (err) {
    s.archivesConfirmed.delete(c.sourceId);
    log.warn('archive confirmation failed', { sourceId: c.sourceId, error: failureText(err) });
  }
}

function documentView(s: AfterRevocationState, type: DocumentView['type']): DocumentView {
  let v = s.documents.find((d) => d.type === type);
  if (!v) {
    v = { type, status: 'pending', updatedAt: new Date().toISOString(), lastError: null };
    s.documents.push(v);
  }
  return v;
}

async function documentStep(
  s: AfterRevocationState,
  types: DocumentView['type'][],
  fn: () => Promise<DocumentView['status']>,
  /** The status the first round left these documents in, when it did this step. */
  done?: DocumentView['status'],
): Promise<void> {
  const views = types.map((t) => documentView(s, t));
  if (done && s.halted()) {
    for (const v of views) {
      v.status = done;
      v.updatedAt = new Date().toISOString();
    }
    return;
  }
  if (s.halted()) return;
  try {
    const status = await fn();
    for (const v of views) {
      v.status = status;
      v.updatedAt = new Date().toISOString();
    }
  } catch (err) {
    for (const v of views) {
      v.status = 'failed';
      v.lastError = failureText(err);
      v.updatedAt = new Date().toISOString();
    }
    log.warn('document step failed', { types, error: failureText(err) });
  }
}

/**
 * The compliance documents: benefits and payroll notifications, the exit survey, data archiving with its
 * confirmation, and the NDA acknowledgment (reminders until signed; unsigned at the deadline = failed).
 */
export async function produceDocuments(
  s: AfterRevocationState,
  nda: NdaSettings,
  dataSourceIds: string[],
): Promise<void> {
  const acts = activitiesOf(s);
  const ids = { departureId: s.departureId };
  /** True when the first round did this part. */
  const did = (part: string) => s.firstRound?.done.includes(part) ?? false;
  const notified = did(FIRST_ROUND_PARTS.notifications);
  const surveyed = did(FIRST_ROUND_PARTS.exitSurvey);
  const confirmed = did(FIRST_ROUND_PARTS.archiveConfirmation);
  const ndaSent = did(FIRST_ROUND_PARTS.nda);
  await Promise.all([
    documentStep(
      s,
      ['payroll_notification', 'benefits_notification'],
      async () => {
        if (!notified) await acts.sendBenefitsAndPayrollNotifications(ids);
        return 'delivered';
      },
      notified ? 'delivered' : undefined,
    ),
    documentStep(
      s,
      ['exit_survey'],
      async () => {
        s.contactSeen.set('doc:exit_survey', s.contactUpdates);
        if (!surveyed) await acts.sendExitSurvey(ids);
        return 'sent';
      },
      surveyed ? 'sent' : undefined,
    ),
    documentStep(
      s,
      ['data_archiving_confirmation'],
      async () => {
        // An archive still waiting for its owner's word keeps the document pending (yellow), so the
        // report asks for it; offboardings started before (no marker) were generated at once.
        const waiting = (pending: string[] | undefined): boolean =>
          pending !== undefined &&
          pending.length > 0 &&
          patched('archive-confirmation') &&
          archivesPendingFrom(s, pending);
        if (confirmed) return waiting(s.firstRound?.archivesPending) ? 'pending' : 'generated';
        for (const sourceId of dataSourceIds) {
          if (did(FIRST_ROUND_PARTS.archive(sourceId))) continue;
          if (s.halted()) return 'pending';
          await acts.archiveDataSource({ ...ids, sourceId });
        }
        const r = await acts.recordDataArchivingConfirmation(ids);
        return waiting(r.pending) ? 'pending' : 'generated';
      },
      // The first round's confirmation, unless an archive still waits (then the step above decides).
      confirmed && !(s.firstRound?.archivesPending?.length ?? 0) ? 'generated' : undefined,
    ),
    documentStep(s, ['nda_acknowledgment'], async () => {
      s.contactSeen.set('doc:nda_acknowledgment', s.contactUpdates);
      if (!ndaSent) await acts.sendNdaForSignature(ids);
      return awaitNdaSignature(s, nda, s.halted);
    }),
  ]);
}

/** The NDA is out: reminders until it is signed, `expired` at the deadline; `sent` when `stop` holds. */
async function awaitNdaSignature(
  s: AfterRevocationState,
  nda: NdaSettings,
  stop: () => boolean,
): Promise<DocumentView['status']> {
  const acts = activitiesOf(s);
  const ids = { departureId: s.departureId };
  documentView(s, 'nda_acknowledgment').status = 'sent';
  const deadline = new Date(Date.now() + nda.deadlineDays * 24 * HOUR).toISOString();
  const signed = () => s.signed.has('nda_acknowledgment');
  for (let reminder = 1; ; reminder++) {
    const next = new Date(
      Math.min(Date.now() + nda.reminderEveryHours * HOUR, Date.parse(deadline)),
    ).toISOString();
    if (await waitUntil(() => signed() || stop(), next)) return signed() ? 'signed' : 'sent';
    if (Date.now() >= Date.parse(deadline)) {
      // Signed in the last moment (the signal may still be on its way): the database knows.
      const r = await acts.expireNda(ids);
      return r.status === 'signed' ? 'signed' : 'expired';
    }
    const r = await acts.remindNda({ ...ids, reminder });
    if (r.signed) return 'signed';
  }
}

/** Counts `work` in `s.lateWork` until it settles. */
async function late(s: AfterRevocationState, work: Promise<void>): Promise<void> {
  s.lateWork++;
  try {
    await work;
  } finally {
    s.lateWork--;
  }
}

/** Steps that go to the leaver's personal address and can be made again when it is filled in. */
const TO_THE_LEAVER = ['exit_survey', 'nda_acknowledgment'] as const;

/** Asset states in which nothing waits for the asset any more: a receipt then is a late return. */
const NOT_WAITING: readonly AssetView['status'][] = ['failed', 'escalated_department_head'];

/**
 * Work that arrives after its step has ended, run until `closing()` (sign-off):
 * - **Late returns**: an asset received (`assetReceivedSignal`) after its recovery stopped waiting
 *   (escalated to the department head, or failed) is recorded (custody, check-in) and turns `received`;
 *   tried once per receipt. Receipts that arrive until the lane ends are recorded.
 * - **Contact corrections**: whenever the personal email was filled in or corrected (`contactUpdates`)
 *   after a step to the leaver failed (the exit survey, the NDA, a remote asset's return request; e.g.
 *   "no personalEmail"), that step runs again with the address on file now: the survey and the NDA are
 *   sent (the NDA with its reminders and deadline from now), the asset requested and its windows (those
 *   of the plan) waited for. Once per correction; a second failure waits for the next one.
 * Nothing runs after a rescission; the waits end when the offboarding does. Offboardings that recorded
 * such a message before this existed ignored it: each kind sits behind its `patched()` id.
 */
export async function lateFollowUps(
  s: AfterRevocationState,
  nda: NdaSettings,
  closing: () => boolean,
): Promise<void> {
  const stale = (key: string) => (s.contactSeen.get(key) ?? 0) < s.contactUpdates;
  const stop = () => s.halted() || closing();
  const due = () => {
    if (s.halted()) return { receipts: [], documents: [], assets: [] };
    const receipts = s.assets.filter(
      (a) => NOT_WAITING.includes(a.status) && s.receipts.has(a.assetTag) && !s.receiptsTried.has(a.assetTag),
    );
    if (closing()) return { receipts, documents: [], assets: [] };
    return {
      receipts,
      documents: TO_THE_LEAVER.filter(
        (t) => s.documents.find((d) => d.type === t)?.status === 'failed' && stale(`doc:${t}`),
      ),
      assets: s.assets.filter(
        (a) =>
          a.status === 'failed' &&
          s.requestFailed.has(a.assetTag) &&
          !s.receipts.has(a.assetTag) &&
          stale(`asset:${a.assetTag}`),
      ),
    };
  };
  const count = (d: ReturnType<typeof due>) => d.receipts.length + d.documents.length + d.assets.length;
  const acts = activitiesOf(s);
  const ids = { departureId: s.departureId };
  const lanes: Promise<void>[] = [];
  for (;;) {
    await condition(() => stop() || count(due()) > 0);
    const { receipts, documents, assets } = due();
    if (receipts.length + documents.length + assets.length === 0) break;
    for (const view of receipts) s.receiptsTried.add(view.assetTag);
    if (receipts.length > 0 && patched('late-asset-receipt')) {
      log.info('late return: recording the receipt', { assets: receipts.map((a) => a.assetTag) });
      for (const view of receipts) lanes.push(late(s, recordLateReceipt(s, view)));
    }
    for (const type of documents) s.contactSeen.set(`doc:${type}`, s.contactUpdates);
    for (const view of assets) s.contactSeen.set(`asset:${view.assetTag}`, s.contactUpdates);
    if (documents.length + assets.length === 0 || !patched('contact-update-resend')) continue;
    log.info('personal email filled in: sending again what failed for want of it', {
      documents,
      assets: assets.map((a) => a.assetTag),
    });
    for (const type of documents) {
      const view = documentView(s, type);
      view.status = 'pending';
      view.lastError = null;
      lanes.push(
        late(
          s,
          documentStep(s, [type], async () => {
            if (type === 'exit_survey') {
              await acts.sendExitSurvey(ids);
              return 'sent';
            }
            await acts.sendNdaForSignature(ids);
            return awaitNdaSignature(s, nda, stop);
          }),
        ),
      );
    }
    for (const view of assets) {
      s.requestFailed.delete(view.assetTag);
      view.status = 'pending';
      view.lastError = null;
      lanes.push(late(s, recoverAsset(s, view, false, stop)));
    }
  }
  await Promise.all(lanes);
}

/** A late return: the receipt recorded (custody, check-in); a failure is kept on the asset. */
async function recordLateReceipt(s: AfterRevocationState, view: AssetView): Promise<void> {
  try {
    await activitiesOf(s).recordAssetReceipt({
      departureId: s.departureId,
      receipt: s.receipts.get(view.assetTag)!,
    });
    view.status = 'received';
    view.receivedAt = new Date().toISOString();
    view.lastError = null;
  } catch (err) {
    view.lastError = failureText(err);
    log.warn('late return not recorded', { assetTag: view.assetTag, error: view.lastError });
  }
}
