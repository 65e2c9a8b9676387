/**
 * Step 5 of an offboarding, the verification checkpoint, run by `offboardingWorkflow` beside the rest:
 * at trigger + 24 h (configurable; after a notice period, 24 h after its end) the report is compiled
 * with a live access audit and sent to HR and IT; both acknowledge it (`acknowledgeUpdate`), reminded
 * every business day and escalated to the department head after one; every red or yellow item gets a
 * resolution (`resolveUpdate`); a red still unresolved 48 h after the trigger escalates to the department
 * head. The departure is done only when everything is signed off and a final live audit finds no active
 * account. Deterministic: activities only, timers only through `condition`.
 */
import { ApplicationFailure, condition, log, proxyActivities, setHandler } from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  MATCH_ERROR_TYPES,
  NON_RETRYABLE_ERROR_TYPES,
  RESOLUTION_KINDS,
  SIGNOFF_ROLES,
  RESCINDED_OUTSTANDING,
  UPDATE_REJECTIONS,
  acknowledgeUpdate,
  resolveUpdate,
  type AccessAudit,
  type AssetView,
  type DocumentView,
  type ReportColour,
  type ReportItem,
  type Resolution,
  type StepView,
  type VerificationSettings,
  type VerificationView,
} from '../contract';

const acts = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  retry: {
    initialInterval: '2s',
    backoffCoefficient: 2,
    maximumInterval: '5m',
    nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES],
  },
});

const HOUR = 3_600_000;

/** What the checkpoint reads from the rest of the workflow. */
export interface CheckpointContext {
  departureId: string;
  settings: VerificationSettings;
  steps: () => StepView[];
  assets: () => AssetView[];
  documents: () => DocumentView[];
  /** End of the notice period, when there is one: the report waits for it. */
  revokeRestAt: () => string | null;
  /** True once the termination is rescinded. */
  halted: () => boolean;
  /** True while revocation, asset recovery or documents still run. */
  working: () => boolean;
  /** True once every revocation step has been acted on (the report waits for that). */
  revocationPassDone: () => boolean;
  /** Called whenever the red count may have changed (search attributes). */
  changed: () => void;
}

/** The matching failure of a red step item (its error's type), or null. */
function matchFailure(i: ReportItem): string | null {
  if (i.kind !== 'step' || i.colour !== 'red' || !i.detail) return null;
  return Object.values(MATCH_ERROR_TYPES).find((t) => i.detail!.startsWith(`${t}:`)) ?? null;
}

/**
 * Why `how` cannot resolve `item`, as far as matching is concerned: `no_account` only for an account
 * that was not found; not finding one, or finding two, is never an accepted risk (it is not proof the
 * access is gone).
 */
function matchRefusal(item: ReportItem, how: string): string | null {
  const failure = matchFailure(item);
  if (how === 'no_account' && failure !== MATCH_ERROR_TYPES.not_found)
    return 'no_account is only for a step whose account was not found';
  if (how === 'accepted_risk' && failure === MATCH_ERROR_TYPES.not_found)
    return (
      'not finding an account is not proof the access is gone: resolve it as no_account (the person has ' +
      'none there), fixed_by_hand, or record the account id, re-drive the step and resolve it as ' +
      'redriven_confirmed'
    );
  if (how === 'accepted_risk' && failure === MATCH_ERROR_TYPES.ambiguous)
    return (
      'more than one account matched and one of them may be the leaver’s: record the right account id ' +
      'and re-drive the step, or revoke it by hand (fixed_by_hand)'
    );
  return null;
}

/** An update refused by its validator, typed (`UPDATE_REJECTIONS`) so the API answers 404, 409 or 422. */
export const reject = (type: string, message: string) =>
  ApplicationFailure.create({ type, message, nonRetryable: true });

const iso = (ms: number) => new Date(ms).toISOString();
/** The workflow's clock (deterministic; activities take instants from it rather than their own). */
const now = () => new Date().toISOString();

/** Colour of a step in the report. */
function stepColour(s: StepView): ReportColour {
  return s.status === 'green' ? 'green' : s.status === 'red' ? 'red' : 'yellow';
}

function assetColour(a: AssetView): ReportColour {
  return a.status === 'received' ? 'green' : a.status === 'failed' ? 'red' : 'yellow';
}

function documentColour(d: DocumentView): ReportColour {
  if (['generated', 'delivered', 'signed', 'answered'].includes(d.status)) return 'green';
  if (d.status === 'sent' && d.type === 'exit_survey') return 'green'; // answering it is the leaver's choice
  if (d.status === 'expired' || d.status === 'failed') return 'red';
  return 'yellow';
}

/** The initial checkpoint state of a departure. */
export function initialVerification(settings: VerificationSettings, anchor: string): VerificationView {
  return {
    reportAt: iso(Date.parse(anchor) + settings.reportAfterHours * HOUR),
    redEscalationAt: iso(Date.parse(anchor) + settings.redEscalationAfterHours * HOUR),
    report: null,
    reportAudit: null,
    acknowledgments: { hr: null, it: null },
    nextReminderAt: null,
    reminders: 0,
    ackEscalated: false,
    redEscalated: false,
    resolutions: [],
    finalAudit: null,
    unresolved: [],
    outstanding: [],
    done: false,
  };
}

/**
 * The checkpoint of one departure: its state (carried across continue-as-new), the two operator
 * updates, and the timers (report, acknowledgment reminders, red escalation).
 */
export function createCheckpoint(ctx: CheckpointContext, restored: VerificationView | null) {
  const anchor = () => ctx.revokeRestAt() ?? ctx.settings.triggerAt;
  const state: VerificationView = restored ?? initialVerification(ctx.settings, anchor());
  /** Activities the checkpoint has in flight (continue-as-new waits for none). */
  let busy = 0;
  const inFlight = new Set<string>();

  const track = async <T>(p: () => Promise<T>): Promise<T> => {
    busy++;
    try {
      return await p();
    } finally {
      busy--;
    }
  };

  /** The audit that decides access colours: the final one once run, else the report's. */
  const latestAudit = (): AccessAudit | null => state.finalAudit ?? state.reportAudit;

  /** Until the report is out, its time and the red escalation follow the anchor (a moved last day). */
  const refreshTimes = () => {
    if (state.report) return;
    const at = Date.parse(anchor());
    state.reportAt = iso(at + ctx.settings.reportAfterHours * HOUR);
    state.redEscalationAt = iso(at + ctx.settings.redEscalationAfterHours * HOUR);
  };

  /** Every item with its colour now (the report's snapshot colour where the report has the item). */
  const items = (): ReportItem[] => {
    const audit = latestAudit();
    const snapshot = new Map(state.report?.items.map((i) => [i.itemId, i]) ?? []);
    const out: ReportItem[] = [];
    const add = (i: Omit<ReportItem, 'reportColour'>) =>
      out.push({ ...i, reportColour: snapshot.get(i.itemId)?.reportColour ?? i.colour });
    // A system the live audit still finds an account in is red through its `access:` item, whatever
    // its step said; the step keeps its own colour (what the revocation itself did).
    for (const s of ctx.steps()) {
      if (s.status === 'halted') continue;
      add({
        itemId: `step:${s.stepId}`,
        kind: 'step',
        label:
          s.kind === 'scope'
            ? `${s.systemName}: scoped for the notice period`
            : `${s.systemName}: ${s.action}${s.scheduledFor ? ' (after the last day)' : ''}`,
        colour: stepColour(s),
        detail: s.lastError ?? s.detail,
      });
    }
    for (const a of ctx.assets())
      add({
        itemId: `asset:${a.assetTag}`,
        kind: 'asset',
        label: `${a.assetName} (${a.assetTag})`,
        colour: assetColour(a),
        detail: a.lastError ?? a.status.replace(/_/g, ' '),
      });
    for (const d of ctx.documents()) {
      if (d.type === 'completion_certificate') continue;
      add({
        itemId: `document:${d.type}`,
        kind: 'document',
        label: d.type.replace(/_/g, ' '),
        colour: documentColour(d),
        detail: d.lastError ?? d.status,
      });
    }
    const rows = new Map(
      [...(state.reportAudit?.rows ?? []), ...(audit?.rows ?? [])].map((r) => [r.systemId, r]),
    );
    for (const r of rows.values())
      add({
        itemId: `access:${r.systemId}`,
        kind: 'access',
        label: `${r.systemName}: live access audit`,
        colour: r.active === 'yes' ? 'red' : r.active === 'error' ? 'yellow' : 'green',
        detail:
          r.active === 'yes'
            ? r.detail
              ? `still giving access: ${r.detail}`
              : 'an active account was found'
            : r.active === 'error'
              ? `could not be checked: ${r.detail ?? ''}`
              : null,
      });
    return out;
  };

  const latestResolution = (itemId: string): Resolution | undefined =>
    [...state.resolutions].reverse().find((r) => r.itemId === itemId);

  /** Whether an item still needs a resolution: red or yellow now, or red in the report. */
  const needsResolution = (i: ReportItem): boolean => {
    if (i.colour === 'green' && i.reportColour !== 'red') return false;
    const r = latestResolution(i.itemId);
    if (!r) return true;
    // An account found active by an audit after the resolution: the resolution did not hold.
    const audit = latestAudit();
    if (i.kind === 'access' && i.colour === 'red' && audit) return Date.parse(r.at) < Date.parse(audit.at);
    return false;
  };

  const unresolved = () => (state.report ? items().filter(needsResolution) : []);

  /** Everything but the final audit is in place. */
  const readyForFinalAudit = () =>
    state.report !== null &&
    state.acknowledgments.hr !== null &&
    state.acknowledgments.it !== null &&
    !ctx.working() &&
    unresolved().length === 0;

  const view = (): VerificationView => {
    // A rescinded termination is not signed off: HR and IT decide in the rescission review.
    if (ctx.halted())
      return {
        ...state,
        report: state.report ? { ...state.report, items: items() } : null,
        unresolved: [],
        outstanding: [RESCINDED_OUTSTANDING],
      };
    const open = unresolved();
    const outstanding: string[] = [];
    if (!state.report) outstanding.push(`verification report (due ${state.reportAt})`);
    if (ctx.working()) outstanding.push('revocation, asset recovery or documents still running');
    for (const role of SIGNOFF_ROLES)
      if (state.report && !state.acknowledgments[role])
        outstanding.push(`${role.toUpperCase()} acknowledgment`);
    for (const i of open) outstanding.push(`resolution of ${i.itemId} (${i.colour})`);
    if (!state.done && readyForFinalAudit()) outstanding.push('final live access audit');
    return {
      ...state,
      report: state.report ? { ...state.report, items: items() } : null,
      unresolved: open.map((i) => i.itemId),
      outstanding,
    };
  };

  setHandler(
    acknowledgeUpdate,
    async (req) => {
      const have = () => state.acknowledgments[req.role];
      if (inFlight.has(`ack:${req.role}`)) await condition(() => !inFlight.has(`ack:${req.role}`));
      const existing = have();
      if (existing) return { acknowledgment: existing, alreadyAcknowledged: true };
      const ack = { role: req.role, by: req.by, at: new Date().toISOString(), note: req.note ?? null };
      inFlight.add(`ack:${req.role}`);
      try {
        await track(() =>
          acts.recordAcknowledgment({ departureId: ctx.departureId, reportId: state.report!.reportId, ack }),
        );
        state.acknowledgments[req.role] = ack;
      } finally {
        inFlight.delete(`ack:${req.role}`);
      }
      log.info('verification report acknowledged', { role: req.role });
      return { acknowledgment: ack, alreadyAcknowledged: false };
    },
    {
      validator: (req) => {
        if (req.departureId !== ctx.departureId)
          throw reject(
            UPDATE_REJECTIONS.notFound,
            `this offboarding is not the one of departure ${req.departureId}`,
          );
        if (!(SIGNOFF_ROLES as readonly string[]).includes(req.role))
          throw reject(
            UPDATE_REJECTIONS.unprocessable,
            `only HR and IT acknowledge a report, not "${req.role}"`,
          );
        if (!req.by) throw reject(UPDATE_REJECTIONS.unprocessable, 'by is required');
        if (ctx.halted()) throw reject(UPDATE_REJECTIONS.conflict, 'the termination was rescinded');
        if (!state.report)
          throw reject(
            UPDATE_REJECTIONS.conflict,
            `the verification report has not been compiled yet (due ${state.reportAt})`,
          );
      },
    },
  );

  setHandler(
    resolveUpdate,
    async (req) => {
      const resolution: Resolution = {
        itemId: req.itemId,
        how: req.how,
        note: req.note,
        by: req.by,
        role: req.role,
        at: new Date().toISOString(),
      };
      inFlight.add(`resolve:${req.itemId}`);
      try {
        await track(() => acts.recordResolution({ departureId: ctx.departureId, resolution }));
        state.resolutions.push(resolution);
      } finally {
        inFlight.delete(`resolve:${req.itemId}`);
      }
      ctx.changed();
      log.info('report item resolved', { itemId: req.itemId, how: req.how });
      return resolution;
    },
    {
      validator: (req) => {
        if (req.departureId !== ctx.departureId)
          throw reject(
            UPDATE_REJECTIONS.notFound,
            `this offboarding is not the one of departure ${req.departureId}`,
          );
        if (!state.report)
          throw reject(
            UPDATE_REJECTIONS.conflict,
            `the verification report has not been compiled yet (due ${state.reportAt})`,
          );
        if (state.done) throw reject(UPDATE_REJECTIONS.conflict, 'the departure is already signed off');
        if (ctx.halted()) throw reject(UPDATE_REJECTIONS.conflict, 'the termination was rescinded');
        if (!(RESOLUTION_KINDS as readonly string[]).includes(req.how))
          throw reject(UPDATE_REJECTIONS.unprocessable, `how must be one of ${RESOLUTION_KINDS.join(', ')}`);
        if (!req.by || !req.note || req.note.trim().length < 3)
          throw reject(UPDATE_REJECTIONS.unprocessable, 'a resolution needs a note and who resolved it');
        const item = items().find((i) => i.itemId === req.itemId);
        if (!item) throw reject(UPDATE_REJECTIONS.notFound, `the report has no item ${req.itemId}`);
        if (inFlight.has(`resolve:${req.itemId}`))
          throw reject(UPDATE_REJECTIONS.conflict, `${req.itemId} is being resolved right now`);
        if (!needsResolution(item)) {
          const r = latestResolution(item.itemId);
          throw r
            ? reject(UPDATE_REJECTIONS.conflict, `${req.itemId} was already resolved by ${r.by} at ${r.at}`)
            : reject(UPDATE_REJECTIONS.unprocessable, `${req.itemId} is green and needs no resolution`);
        }
        if (req.how === 'redriven_confirmed' && (item.kind !== 'step' || item.colour !== 'green'))
          throw reject(
            UPDATE_REJECTIONS.unprocessable,
            `${req.itemId} is ${item.colour}: only a step that is confirmed now can be resolved as redriven_confirmed`,
          );
        const refusal = matchRefusal(item, req.how);
        if (refusal) throw reject(UPDATE_REJECTIONS.unprocessable, `${req.itemId}: ${refusal}`);
        if (item.kind === 'access' && item.colour === 'red' && req.how !== 'fixed_by_hand')
          throw reject(
            UPDATE_REJECTIONS.unprocessable,
            `${req.itemId}: an account that is still active cannot be ${req.how.replace(/_/g, ' ')}; disable it and record fixed_by_hand (it is audited again)`,
          );
      },
    },
  );

  /** Waits until `done()` or the instant; true when `done()` held. */
  const waitUntil = async (done: () => boolean, at: () => string): Promise<boolean> => {
    for (;;) {
      if (done()) return true;
      const target = at();
      const ms = Date.parse(target) - Date.now();
      if (ms <= 0) return false;
      // Re-evaluated when the instant moves (a moved last day moves the report).
      await condition(() => done() || at() !== target, ms);
    }
  };

  const compileReport = async (): Promise<void> => {
    // Stamped with the workflow's clock, the one resolutions are stamped with.
    const audit = {
      ...(await track(() => acts.auditLiveAccess({ departureId: ctx.departureId }))),
      at: now(),
    };
    state.reportAudit = audit;
    const snapshot = items();
    const sent = await track(() =>
      acts.sendVerificationReport({
        departureId: ctx.departureId,
        items: snapshot,
        audit,
        compiledAt: now(),
      }),
    );
    state.report = {
      reportId: sent.reportId,
      compiledAt: sent.compiledAt,
      ackDueAt: sent.ackDueAt,
      items: snapshot,
    };
    state.nextReminderAt = sent.ackDueAt;
    ctx.changed();
  };

  const acknowledged = () => state.acknowledgments.hr !== null && state.acknowledgments.it !== null;

  const reminders = async (): Promise<void> => {
    while (!acknowledged() && !ctx.halted()) {
      if (
        await waitUntil(
          () => acknowledged() || ctx.halted(),
          () => state.nextReminderAt!,
        )
      )
        return;
      const missing = SIGNOFF_ROLES.filter((r) => !state.acknowledgments[r]);
      const r = await track(() =>
        acts.remindAcknowledgment({
          departureId: ctx.departureId,
          reportId: state.report!.reportId,
          missing: [...missing],
          reminder: state.reminders + 1,
          escalate: !state.ackEscalated,
          now: now(),
        }),
      );
      state.reminders++;
      state.ackEscalated = true;
      state.nextReminderAt = r.nextReminderAt;
    }
  };

  const redEscalation = async (): Promise<void> => {
    if (state.redEscalated || state.redEscalationCheckedAt) return;
    if (
      await waitUntil(
        () => state.done || ctx.halted(),
        () => (refreshTimes(), state.redEscalationAt),
      )
    )
      return;
    const red = items().filter((i) => i.colour === 'red' && needsResolution(i));
    if (red.length === 0) {
      state.redEscalationCheckedAt = now();
      return;
    }
    await track(() =>
      acts.escalateUnresolvedRed({
        departureId: ctx.departureId,
        items: red.map((i) => ({ itemId: i.itemId, label: i.label, detail: i.detail })),
      }),
    );
    state.redEscalated = true;
    state.redEscalationCheckedAt = now();
  };

  /**
   * A timer of the checkpoint has fired but its work has not been recorded yet (the coroutine that acts
   * on it may not have run yet in this activation): the run must not continue as new now, or that work
   * would be dropped with it.
   */
  const timerWorkDue = (): boolean => {
    if (ctx.halted() || state.done) return false;
    const t = Date.now();
    if (!state.report) return reportReady() && t >= Date.parse(state.reportAt);
    if (!acknowledged() && state.nextReminderAt && t >= Date.parse(state.nextReminderAt)) return true;
    return !state.redEscalationCheckedAt && !state.redEscalated && t >= Date.parse(state.redEscalationAt);
  };
  /** What the report needs besides its time: the revocation pass done (and the paperwork started). */
  function reportReady(): boolean {
    return ctx.revocationPassDone() && (!ctx.settings.afterPaperwork || ctx.documents().length > 0);
  }
  const quiet = () => busy === 0 && inFlight.size === 0 && !timerWorkDue();

  /** The timers of the checkpoint: report, reminders and red escalation. Ends when done or halted. */
  const background = async (): Promise<void> => {
    await Promise.all([
      (async () => {
        if (!state.report) {
          if (
            await waitUntil(
              () => ctx.halted(),
              () => (refreshTimes(), state.reportAt),
            )
          )
            return;
          // A report aggregates every step: it is not compiled while the revocation pass still runs
          // (only possible when reportAfterHours is very short, or a target retries for hours), nor,
          // in plans since `afterPaperwork`, before the documents are listed.
          await condition(() => reportReady() || ctx.halted());
          if (ctx.halted()) return;
          await compileReport();
        }
        await reminders();
      })(),
      redEscalation(),
    ]);
  };

  /**
   * Waits until HR and IT have signed off with nothing unresolved, then runs the final live access
   * audit; an account still active reopens its item (and its owner is told) until the audit is clean.
   * Returns 'done', 'halted', or 'continue' when the run should continue as new (`shouldContinue()`).
   */
  const signOff = async (shouldContinue: () => boolean): Promise<'done' | 'halted' | 'continue'> => {
    for (;;) {
      await condition(() => readyForFinalAudit() || ctx.halted() || (quiet() && shouldContinue()));
      if (ctx.halted()) return 'halted';
      if (!readyForFinalAudit()) return 'continue';
      const audit = {
        ...(await track(() => acts.auditLiveAccess({ departureId: ctx.departureId, final: true }))),
        at: now(),
      };
      state.finalAudit = audit;
      const active = audit.rows.filter((r) => r.active === 'yes');
      if (active.length === 0 && unresolved().length === 0) {
        state.done = true;
        state.nextReminderAt = null;
        return 'done';
      }
      ctx.changed();
      log.warn('final live access audit found active accounts', { systems: active.map((r) => r.systemId) });
      await track(() => acts.reportActiveAccounts({ departureId: ctx.departureId, rows: active }));
    }
  };

  return {
    state,
    view,
    background,
    signOff,
    /** Number of red items not yet resolved (for the search attribute and the step count). */
    redUnresolved: () => unresolved().filter((i) => i.colour === 'red').length,
    /** Nothing in flight and no fired timer waiting for its work: safe to continue as new. */
    idle: () => quiet(),
  };
}

export type Checkpoint = ReturnType<typeof createCheckpoint>;
