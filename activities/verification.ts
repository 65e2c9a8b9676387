/**
 * Activities of the verification checkpoint: the live access audit, the report to HR and IT, their
 * acknowledgments and the resolutions of red and yellow items (with the audit trail), reminders and the
 * escalations to the department head. Every email has a business key, so a retried activity never sends
 * the same message twice; every write is idempotent.
 */
import type {
  AccessAudit,
  AccessAuditRow,
  Acknowledgment,
  ReportItem,
  Resolution,
  SignoffRole,
} from '../contract';
import type { Catalog } from '../config/catalog';
import { addBusinessDays, nextBusinessDayAt, type BusinessCalendar } from '../lib/calendar';
import { audit, auditOnce as appendOnce, Prisma, type Db } from '../lib/db';
import type { Mailer } from '../lib/mailer';
import { subjectOf, type OwnedCredential } from './connector';
import { auditSystem } from './live-audit';
import type { ConnectorRegistry } from './connectors';
import { DepartureNotFoundError } from './errors';

export interface VerificationActivityDeps {
  db: Db;
  catalog: Catalog;
  connectors: ConnectorRegistry;
  mailer: Mailer;
  publicUrl: string;
  /** Per-system time limit of one live check (default 15 s). */
  auditTimeoutMs?: number;
}

const json = (v: unknown) => v as Prisma.InputJsonValue;

const MARK: Record<string, string> = { green: 'GREEN ', yellow: 'YELLOW', red: 'RED   ' };

/** One item of the report as a plain text line. */
function itemLine(mark: string, i: { label: string; detail: string | null }): string {
  return `  ${mark} ${i.label}${i.detail ? ` (${i.detail})` : ''}`;
}

export function createVerificationActivities(deps: VerificationActivityDeps) {
  const { db, catalog, connectors, mailer } = deps;
  const { hr, it } = catalog.organization;
  const cal: BusinessCalendar = {
    timeZone: catalog.organization.timeZone,
    country: catalog.assets.holidays.country,
    region: catalog.assets.holidays.region,
  };
  const contact = (role: SignoffRole) => (role === 'hr' ? hr : it);
  const link = (departureId: string) => `${deps.publicUrl}/dashboard#departure=${departureId}`;

  async function loadDeparture(departureId: string) {
    const d = await db.departure.findUnique({ where: { id: departureId } });
    if (!d) throw new DepartureNotFoundError(`no departure ${departureId}`);
    return d;
  }

  async function auditOnce(
    action: string,
    departureId: string,
    key: string,
    details: Record<string, unknown>,
  ) {
    await appendOnce(
      db,
      { actor: 'workflow', action, departureId, details: { key, ...details } },
      { field: 'key', value: key },
    );
  }

  /**
   * Counts the red report items nobody has resolved and keeps the number on the departure
   * (`redItems`), so lists filter on them like on red steps: every item red in the report without a
   * resolution, and every account the final live audit found active without a resolution recorded
   * after that audit (it reopens its item). Run after each change to the report, its resolutions or
   * the final audit.
   */
  async function recountRedItems(departureId: string): Promise<void> {
    const r = await db.verificationReport.findUnique({
      where: { departureId },
      select: { items: true, finalAudit: true, finalAuditAt: true },
    });
    if (!r) return;
    const resolutions = await db.resolution.findMany({
      where: { departureId },
      select: { itemId: true, resolvedAt: true },
    });
    const resolvedSince = (itemId: string, since: Date | null) =>
      resolutions.some((x) => x.itemId === itemId && (!since || x.resolvedAt > since));
    const open = new Set<string>();
    for (const i of (r.items ?? []) as unknown as ReportItem[])
      if (i.colour === 'red' && !resolvedSince(i.itemId, null)) open.add(i.itemId);
    if (r.finalAuditAt)
      for (const row of (r.finalAudit ?? []) as unknown as AccessAuditRow[]) {
        const itemId = `access:${row.systemId}`;
        if (row.active === 'yes' && !resolvedSince(itemId, r.finalAuditAt)) open.add(itemId);
      }
    await db.departure.update({ where: { id: departureId }, data: { redItems: open.size } });
  }

  /** The department head, or HR when the HRIS sent none (someone senior must hear of it). */
  function headOf(d: { departmentHeadEmail: string | null }) {
    return d.departmentHeadEmail
      ? { name: 'Department head', email: d.departmentHeadEmail, fallback: false }
      : { ...hr, fallback: true };
  }

  return {
    /**
     * The live access audit: every API-integrated catalog system is asked, now and each within a time
     * limit, whether the employee still holds an active account. Systems without an API (ticket, manual)
     * have nothing to ask; their steps carry the owner's confirmation. Recorded in the audit trail.
     */
    async auditLiveAccess(input: { departureId: string; final?: boolean }): Promise<AccessAudit> {
      const d = await loadDeparture(input.departureId);
      const subject = subjectOf(d);
      // Credentials the leaver was found to own are checked again too, whoever revoked them.
      const ownedSteps = await db.stepRecord.findMany({
        where: { departureId: d.id, kind: 'revoke_owned' },
        select: { systemId: true, systemName: true, action: true },
      });
      const ownedOf = (systemId: string): OwnedCredential[] =>
        ownedSteps
          .filter((o) => o.systemId === systemId)
          .map((o) => ({ id: o.action.replace(/^revoke_owned:/, ''), kind: 'owned', name: o.systemName }));
      const rows: AccessAuditRow[] = await Promise.all(
        catalog.systems
          .filter((s) => connectors.has(s.id))
          .map((s) =>
            auditSystem(s, connectors.get(s.id)!, subject, ownedOf(s.id), deps.auditTimeoutMs ?? 15_000),
          ),
      );
      const result: AccessAudit = { at: new Date().toISOString(), rows };
      if (input.final) {
        await db.verificationReport.updateMany({
          where: { departureId: d.id },
          data: { finalAudit: json(rows), finalAuditAt: new Date(result.at) },
        });
        await recountRedItems(d.id);
      }
      await audit(db, {
        actor: 'workflow',
        action: 'live_access_audit',
        departureId: d.id,
        details: json({
          at: result.at,
          active: rows.filter((r) => r.active === 'yes').map((r) => r.systemId),
          unchecked: rows.filter((r) => r.active === 'error').map((r) => r.systemId),
          checked: rows.length,
          final: input.final ?? false,
        }),
      });
      return result;
    },

    /**
     * Stores the verification report (once per departure) and sends it to HR and IT; acknowledgments are
     * due after `acknowledgmentBusinessDays` business days (company calendar).
     */
    async sendVerificationReport(input: {
      departureId: string;
      items: ReportItem[];
      audit: AccessAudit;
      /** The workflow's clock when it compiled the report. */
      compiledAt: string;
    }): Promise<{ reportId: string; compiledAt: string; ackDueAt: string }> {
      const d = await loadDeparture(input.departureId);
      const count = (c: string) => input.items.filter((i) => i.colour === c).length;
      const existing = await db.verificationReport.findUnique({ where: { departureId: d.id } });
      const compiledAt = existing?.compiledAt ?? new Date(input.compiledAt);
      const ackDueAt =
        existing?.ackDueAt ??
        addBusinessDays(compiledAt, catalog.verification.acknowledgmentBusinessDays, cal);
      const report =
        existing ??
        (await db.verificationReport.upsert({
          where: { departureId: d.id },
          create: {
            departureId: d.id,
            compiledAt,
            items: json(input.items),
            accessAudit: json(input.audit),
            green: count('green'),
            yellow: count('yellow'),
            red: count('red'),
            ackDueAt,
          },
          update: {},
        }));
      const order = { red: 0, yellow: 1, green: 2 } as const;
      const sorted = [...input.items].sort((a, b) => order[a.colour] - order[b.colour]);
      // Found by the reconciliation with the HR system, not announced by it (docs/hris.md).
      const first = await db.triggerEvent.findFirst({
        where: { departureId: d.id },
        orderBy: { receivedAt: 'asc' },
        select: { source: true, receivedAt: true },
      });
      const missed =
        first?.source === 'reconciliation'
          ? [
              `NOTE: the HR system's notification did not arrive. Offboard's reconciliation found this departure at ${first.receivedAt.toISOString()}.`,
              '',
            ]
          : [];
      const sent = await mailer.send({
        key: `report:${d.id}:sent`,
        departureId: d.id,
        purpose: 'verification_report',
        to: hr.email,
        cc: [it.email],
        subject: `[Offboard] Verification report: ${d.employeeName} (${d.employeeId}): ${report.red} red, ${report.yellow} yellow`,
        text: [
          `Hello ${hr.name} and ${it.name},`,
          '',
          `This is the verification report of the offboarding of ${d.employeeName} (${d.employeeId}, ${d.department}),`,
          `compiled ${report.compiledAt.toISOString()} with a live access audit of every system Offboard can ask.`,
          '',
          ...missed,
          ...sorted.map((i) => itemLine(MARK[i.colour]!, i)),
          '',
          'GREEN = confirmed. YELLOW = action taken, confirmation pending. RED = failed or timed out.',
          `Each of you please acknowledge this report by ${report.ackDueAt.toISOString()} (HR as HR, IT as IT).`,
          'Every red or yellow item needs a resolution note before the offboarding can complete.',
          '',
          `Open it: ${link(d.id)}`,
        ].join('\n'),
      });
      await auditOnce('verification_report_sent', d.id, `report:${report.id}`, {
        reportId: report.id,
        green: report.green,
        yellow: report.yellow,
        red: report.red,
        ackDueAt: report.ackDueAt.toISOString(),
        notified: [hr.email, it.email],
        messageId: sent.messageId,
      });
      await recountRedItems(d.id);
      return {
        reportId: report.id,
        compiledAt: report.compiledAt.toISOString(),
        ackDueAt: report.ackDueAt.toISOString(),
      };
    },

    /** Records HR's or IT's acknowledgment of the report (the first one stands) in the audit trail. */
    async recordAcknowledgment(input: {
      departureId: string;
      reportId: string;
      ack: Acknowledgment;
    }): Promise<void> {
      const { ack } = input;
      const at = new Date(ack.at);
      const data =
        ack.role === 'hr'
          ? { hrAcknowledgedAt: at, hrAcknowledgedBy: ack.by, hrNote: ack.note }
          : { itAcknowledgedAt: at, itAcknowledgedBy: ack.by, itNote: ack.note };
      const where =
        ack.role === 'hr'
          ? { id: input.reportId, hrAcknowledgedAt: null }
          : { id: input.reportId, itAcknowledgedAt: null };
      const res = await db.verificationReport.updateMany({ where, data });
      if (res.count > 0)
        await audit(db, {
          actor: `operator:${ack.by}`,
          action: 'report_acknowledged',
          departureId: input.departureId,
          details: json({ reportId: input.reportId, role: ack.role, at: ack.at, note: ack.note }),
        });
    },

    /** Records a resolution of a red or yellow item, with its note, in the audit trail. */
    async recordResolution(input: { departureId: string; resolution: Resolution }): Promise<void> {
      const r = input.resolution;
      const resolvedAt = new Date(r.at);
      const key = { departureId: input.departureId, itemId: r.itemId, resolvedAt };
      const prior = await db.resolution.findUnique({ where: { departureId_itemId_resolvedAt: key } });
      if (prior) return;
      await db.$transaction(async (tx) => {
        await tx.resolution.create({
          data: { ...key, how: r.how, note: r.note, resolvedBy: r.by, role: r.role },
        });
        await audit(tx, {
          actor: `operator:${r.by}`,
          action: 'report_item_resolved',
          departureId: input.departureId,
          details: json({ itemId: r.itemId, how: r.how, note: r.note, role: r.role, at: r.at }),
        });
      });
      await recountRedItems(input.departureId);
    },

    /**
     * Reminds whoever has not acknowledged yet; on the first reminder (one business day after the
     * report) also escalates to the department head. Returns when to remind next (next business day).
     */
    async remindAcknowledgment(input: {
      departureId: string;
      reportId: string;
      missing: SignoffRole[];
      reminder: number;
      escalate: boolean;
      /** The workflow's clock: the next reminder is the next business day after it. */
      now: string;
    }): Promise<{ nextReminderAt: string }> {
      const d = await loadDeparture(input.departureId);
      const report = await db.verificationReport.findUniqueOrThrow({ where: { id: input.reportId } });
      const who = input.missing.map((r) => r.toUpperCase()).join(' and ');
      for (const role of input.missing) {
        const c = contact(role);
        await mailer.send({
          key: `report:${d.id}:ack-reminder:${role}:${input.reminder}`,
          departureId: d.id,
          purpose: 'acknowledgment_reminder',
          to: c.email,
          subject: `[Offboard] Reminder: acknowledge the verification report of ${d.employeeName} (${d.employeeId})`,
          text: [
            `Hello ${c.name},`,
            '',
            `The verification report of ${d.employeeName} (${d.employeeId}) was due for acknowledgment by`,
            `${role.toUpperCase()} on ${report.ackDueAt.toISOString()}. This is reminder ${input.reminder}.`,
            '',
            `Acknowledge it here: ${link(d.id)}`,
          ].join('\n'),
        });
      }
      await db.verificationReport.update({
        where: { id: report.id },
        data: { reminders: { set: Math.max(report.reminders, input.reminder) } },
      });
      await auditOnce('acknowledgment_reminder', d.id, `reminder:${input.reminder}`, {
        reminder: input.reminder,
        missing: input.missing,
      });
      if (input.escalate) {
        const head = headOf(d);
        const sent = await mailer.send({
          key: `report:${d.id}:ack-escalated`,
          departureId: d.id,
          purpose: 'acknowledgment_escalated',
          to: head.email,
          cc: input.missing.map((r) => contact(r).email),
          subject: `[Offboard] ESCALATION: ${who} has not acknowledged the offboarding report of ${d.employeeName}`,
          text: [
            `Hello ${head.name},`,
            '',
            `The verification report of the offboarding of ${d.employeeName} (${d.employeeId}, ${d.department})`,
            `went to HR and IT on ${report.compiledAt.toISOString()}; ${who} has not acknowledged it within one`,
            'business day. The offboarding cannot be completed until both have.',
            ...(head.fallback
              ? ['', '(No department head is on record for this departure; HR is told instead.)']
              : []),
            '',
            `Report: ${link(d.id)}`,
          ].join('\n'),
        });
        await db.verificationReport.updateMany({
          where: { id: report.id, ackEscalatedAt: null },
          data: { ackEscalatedAt: new Date() },
        });
        await auditOnce('acknowledgment_escalated', d.id, 'ack-escalated', {
          missing: input.missing,
          notified: head.email,
          messageId: sent.messageId,
        });
      }
      const next = nextBusinessDayAt(new Date(input.now), catalog.verification.reminderHour, 0, cal);
      return { nextReminderAt: next.toISOString() };
    },

    /** A red item still unresolved at trigger + 48 h: the department head is told (email and record). */
    async escalateUnresolvedRed(input: {
      departureId: string;
      items: { itemId: string; label: string; detail: string | null }[];
    }): Promise<{ notified: string }> {
      const d = await loadDeparture(input.departureId);
      const head = headOf(d);
      const sent = await mailer.send({
        key: `report:${d.id}:red-escalated`,
        departureId: d.id,
        purpose: 'red_escalated',
        to: head.email,
        cc: [hr.email, it.email],
        subject: `[Offboard] ESCALATION: ${input.items.length} unresolved red item(s) in the offboarding of ${d.employeeName}`,
        text: [
          `Hello ${head.name},`,
          '',
          `The offboarding of ${d.employeeName} (${d.employeeId}, ${d.department}) still has failures nobody has`,
          'resolved, 48 hours after the departure was confirmed:',
          '',
          ...input.items.map((i) => itemLine('RED   ', i)),
          ...(head.fallback
            ? ['', '(No department head is on record for this departure; HR is told instead.)']
            : []),
          '',
          `Please make sure they are resolved: ${link(d.id)}`,
        ].join('\n'),
      });
      await db.verificationReport.updateMany({
        where: { departureId: d.id, redEscalatedAt: null },
        data: { redEscalatedAt: new Date() },
      });
      await auditOnce('red_escalated', d.id, 'red-escalated', {
        items: input.items.map((i) => i.itemId),
        notified: head.email,
        messageId: sent.messageId,
      });
      return { notified: head.email };
    },

    /**
     * The final live audit found accounts still active after sign-off: IT and each system's owner are
     * told, and the result is kept with the report. The items reopen until an audit is clean.
     */
    async reportActiveAccounts(input: { departureId: string; rows: AccessAuditRow[] }): Promise<void> {
      const d = await loadDeparture(input.departureId);
      const owners = input.rows
        .map((r) => catalog.systems.find((s) => s.id === r.systemId)?.owner.email)
        .filter((e): e is string => !!e);
      const key = input.rows
        .map((r) => r.systemId)
        .sort()
        .join(',');
      const count = await db.auditEvent.count({
        where: { departureId: d.id, action: 'active_accounts_found' },
      });
      await mailer.send({
        key: `report:${d.id}:active:${count}:${key}`,
        departureId: d.id,
        purpose: 'active_accounts_found',
        to: it.email,
        cc: [...new Set(owners)],
        subject: `[Offboard] RED: ${d.employeeName} (${d.employeeId}) still has active accounts`,
        text: [
          `Hello ${it.name},`,
          '',
          `HR and IT signed off the offboarding of ${d.employeeName} (${d.employeeId}), but the final live access`,
          'audit still finds an active account in:',
          ...input.rows.map((r) => `  - ${r.systemName} (${r.systemId})`),
          '',
          'Disable them, then record how on each item ("fixed by hand"); Offboard audits again and completes',
          `the offboarding only when no account is active: ${link(d.id)}`,
        ].join('\n'),
      });
      await audit(db, {
        actor: 'workflow',
        action: 'active_accounts_found',
        departureId: d.id,
        details: json({ systems: input.rows.map((r) => r.systemId), notified: [it.email, ...owners] }),
      });
      await recountRedItems(d.id);
    },

    /** Everything has run: the departure waits for HR's and IT's sign-off. */
    async markAwaitingSignoff(input: { departureId: string }): Promise<void> {
      const res = await db.departure.updateMany({
        where: { id: input.departureId, status: { notIn: ['awaiting_signoff', 'completed', 'rescinded'] } },
        data: { status: 'awaiting_signoff' },
      });
      if (res.count > 0)
        await audit(db, { actor: 'workflow', action: 'awaiting_signoff', departureId: input.departureId });
    },
  };
}
