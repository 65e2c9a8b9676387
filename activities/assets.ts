/**
 * Asset recovery activities: plan the recovery of every asset assigned to the leaver, ask for each one
 * back (remote: a return request to the personal email with a prepaid label, the asset marked "return in
 * progress"; in office: an IT desk appointment with a calendar invite), record its receipt (chain of
 * custody, check-in in the asset system) and escalate an overdue one (IT owner, then department head with
 * a recovery plan). Every activity is idempotent: emails are keyed Notifications, custody entries are
 * written once per event, and the asset systems treat a repeated change as done.
 */
import type { AssetRecovery, Departure } from '@prisma/client';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { createEvent } from 'ics';
import { DateTime } from 'luxon';
import type { AssetReceipt, AssetRecoveryPlan, AssetToRecover } from '../contract';
import type { Catalog } from '../config/catalog';
import { addBusinessDays, nextBusinessDayAt, type BusinessCalendar } from '../lib/calendar';
import { auditOnce as appendOnce, findDeparture, Prisma, type Db } from '../lib/db';
import type { Mailer } from '../lib/mailer';
import type { AssetSystem } from './asset-systems';
import { DepartureNotFoundError, TargetThrottledError } from './errors';
import type { ShippingProvider } from './shipping';

export interface AssetActivityDeps {
  db: Db;
  catalog: Catalog;
  mailer: Mailer;
  /** Base URL of the API, for links in emails. */
  publicUrl: string;
  assetSystem: AssetSystem;
  shipping: ShippingProvider;
}

/**
 * In-office returns are booked for the next business day (public holidays excluded) at 10:00 company
 * time, for 30 minutes: the earliest slot that still gives the leaver notice, mid-morning when the IT
 * desk is staffed. The invite says how to move it.
 */
export const APPOINTMENT = { hour: 10, minute: 0, durationMinutes: 30 } as const;

export type AssetRoute = 'remote' | 'in_office';

/** What `requestAssetReturn` did. */
export interface AssetReturnRequested {
  recoveryId: string;
  route: AssetRoute;
  /** The recovery's status afterwards (`requested`, or `received` when it had already come back). */
  status: string;
  labelRef: string | null;
  appointmentAt: string | null;
  notified: string[];
}

/** What `escalateOverdueAsset` did. */
export interface AssetEscalation {
  recoveryId: string;
  level: 'it_owner' | 'department_head';
  status: string;
  notified: string[];
  recoveryPlan: string | null;
}

type Recovery = AssetRecovery;

/** A refusal retrying cannot fix; the workflow surfaces it (type TargetRejectedError, non-retryable). */
function rejected(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: 'TargetRejectedError', message, nonRetryable: true });
}

/** Runs a call to an asset system or shipping provider; a throttled target's Retry-After becomes the delay. */
async function onTarget<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof TargetThrottledError)
      throw ApplicationFailure.create({
        type: e.name,
        message: `${what}: ${e.message}`,
        nextRetryDelay: Math.max(e.retryAfterMs, 1),
      });
    throw e;
  }
}

/** Creates the asset recovery activities bound to their dependencies. */
export function createAssetActivities(deps: AssetActivityDeps) {
  const { db, catalog, mailer, assetSystem, shipping } = deps;
  const assets = catalog.assets;
  const itDesk = assets.itDesk;
  const cal: BusinessCalendar = {
    timeZone: catalog.organization.timeZone,
    country: assets.holidays.country,
    region: assets.holidays.region,
  };

  /** A date as people read it, in the company's time zone, e.g. "Friday 27 November 2026, 10:00 CET". */
  const fmt = (d: Date) =>
    DateTime.fromJSDate(d, { zone: cal.timeZone })
      .setLocale('en-GB')
      .toFormat('cccc d LLLL yyyy, HH:mm ZZZZ');
  /** A deadline (the midnight ending a business day) as people read it: "the end of Friday 4 December 2026". */
  const fmtDeadline = (d: Date | null) =>
    d
      ? `the end of ${DateTime.fromJSDate(new Date(d.getTime() - 1), { zone: cal.timeZone })
          .setLocale('en-GB')
          .toFormat('cccc d LLLL yyyy')} (${cal.timeZone})`
      : 'the end of the return window';

  async function loadDeparture(departureId: string): Promise<Departure> {
    const d = await findDeparture(db, departureId);
    if (!d) throw new DepartureNotFoundError(`no departure ${departureId}`);
    return d;
  }

  async function loadRecovery(
    departureId: string,
    recoveryId: string,
  ): Promise<Recovery & { departure: Departure }> {
    const r = await db.assetRecovery.findUnique({ where: { id: recoveryId }, include: { departure: true } });
    if (!r || r.departureId !== departureId)
      throw rejected(`departure ${departureId} has no asset recovery ${recoveryId}`);
    return r;
  }

  function routeOf(d: Departure): AssetRoute {
    switch (d.workLocation) {
      case 'remote':
        return 'remote';
      case 'in_office':
        return 'in_office';
      case 'hybrid':
        return assets.hybridRoute;
      default:
        throw rejected(
          `departure ${d.id}: workLocation "${d.workLocation}" is not remote, in_office or hybrid`,
        );
    }
  }

  /** The recovery's asset must live in the configured asset system (the catalog may have changed). */
  function sameSystem(r: Recovery): void {
    if (r.assetSource !== assetSystem.name)
      throw rejected(
        `asset ${r.assetTag} was planned in asset system "${r.assetSource}", but this worker's catalog uses "${assetSystem.name}"`,
      );
  }

  /** Appends a chain-of-custody entry unless the recovery already has one for this event. */
  async function custodyOnce(
    recoveryId: string,
    event: string,
    actor: string,
    details: Record<string, unknown>,
  ): Promise<void> {
    const prior = await db.custodyEntry.findFirst({ where: { recoveryId, event }, select: { id: true } });
    if (prior) return;
    await db.custodyEntry.create({
      data: { recoveryId, event, actor, details: details as Prisma.InputJsonValue },
    });
  }

  async function hasCustody(recoveryId: string, event: string): Promise<boolean> {
    return !!(await db.custodyEntry.findFirst({ where: { recoveryId, event }, select: { id: true } }));
  }

  /** Appends an audit row unless one with this action already exists for the departure (and recovery). */
  async function auditOnce(
    departureId: string,
    action: string,
    details: Record<string, unknown>,
    recoveryId?: string,
  ): Promise<void> {
    await appendOnce(
      db,
      {
        actor: 'workflow',
        action,
        departureId,
        details: { ...(recoveryId ? { recoveryId } : {}), ...details },
      },
      recoveryId ? { field: 'recoveryId', value: recoveryId } : undefined,
    );
  }

  function assetLine(r: Recovery): string {
    return `${r.assetName} (asset tag ${r.assetTag})`;
  }

  async function remoteReturn(r: Recovery, d: Departure): Promise<AssetReturnRequested> {
    if (!d.personalEmail)
      throw rejected(
        `departure ${d.id} has no personalEmail: a remote return request goes only to the personal email ` +
          '(never the work address, which is disabled); add it in the HRIS and retry the step',
      );
    sameSystem(r);
    const label = await onTarget(`shipping provider ${shipping.name}`, () =>
      shipping.createReturnLabel({
        departureId: d.id,
        recoveryId: r.id,
        assetTag: r.assetTag,
        assetName: r.assetName,
        shipFrom: { name: d.employeeName, email: d.personalEmail! },
        shipTo: { name: itDesk.name, location: itDesk.location },
      }),
    );
    await db.assetRecovery.updateMany({
      where: { id: r.id, labelRef: null },
      data: { labelRef: label.labelRef },
    });
    await custodyOnce(r.id, 'label_issued', `shipping:${shipping.name}`, {
      provider: shipping.name,
      labelRef: label.labelRef,
      status: label.status,
      trackingNumber: label.trackingNumber ?? null,
      labelUrl: label.labelUrl ?? null,
    });
    const labelText =
      label.status === 'issued'
        ? [
            'Your prepaid shipping label is ready:',
            `  ${label.labelUrl ?? `(reference ${label.labelRef})`}`,
            ...(label.trackingNumber ? [`  Tracking number: ${label.trackingNumber}`] : []),
          ]
        : [
            'The IT desk will email you a prepaid shipping label at this address shortly',
            `(reference ${label.labelRef}). Shipping costs you nothing.`,
          ];
    const sent = await mailer.send({
      key: `asset-return:${r.id}:request`,
      departureId: d.id,
      purpose: 'asset_return_request',
      to: d.personalEmail,
      subject: `Please return your company ${r.assetName} (${r.assetTag})`,
      text: [
        `Hello ${d.employeeName},`,
        '',
        'As part of your departure, please send back this company equipment:',
        `  ${assetLine(r)}`,
        '',
        ...labelText,
        '',
        `Pack it securely with a note of the asset tag and ship it to ${itDesk.name}, ${itDesk.location},`,
        `by ${fmtDeadline(r.dueAt)}. Please do not reset or wipe it yourself.`,
        '',
        `Questions: ${itDesk.name} <${itDesk.email}>.`,
      ].join('\n'),
    });
    await custodyOnce(r.id, 'requested', 'workflow', {
      route: 'remote',
      to: d.personalEmail,
      messageId: sent.messageId,
    });
    const note = `Return requested from ${d.employeeName} (${d.employeeId}) by Offboard (departure ${d.id}, label ${label.labelRef})`;
    await onTarget(`asset system ${assetSystem.name}`, () =>
      assetSystem.markReturnInProgress(r.assetId, note),
    );
    await custodyOnce(r.id, 'marked_return_in_progress', `asset-system:${assetSystem.name}`, {
      system: assetSystem.name,
      assetId: r.assetId,
      note,
    });
    return finishRequest(r, d, label.labelRef, null, [
      d.personalEmail,
      ...(label.status === 'requested' ? [itDesk.email] : []),
    ]);
  }

  async function inOfficeReturn(r: Recovery, d: Departure): Promise<AssetReturnRequested> {
    // All of a departure's in-office assets share the slot; the stored one wins on a retry.
    const sibling = await db.assetRecovery.findFirst({
      where: { departureId: d.id, appointmentAt: { not: null } },
      select: { appointmentAt: true },
    });
    const proposed =
      sibling?.appointmentAt ?? nextBusinessDayAt(new Date(), APPOINTMENT.hour, APPOINTMENT.minute, cal);
    await db.assetRecovery.updateMany({
      where: { id: r.id, appointmentAt: null },
      data: { appointmentAt: proposed },
    });
    const at = (await db.assetRecovery.findUniqueOrThrow({ where: { id: r.id } })).appointmentAt!;
    const start = DateTime.fromJSDate(at, { zone: 'UTC' });
    const uid = `asset-return-${r.id}@offboard`;
    const attendees = [
      ...(d.personalEmail
        ? [
            {
              name: d.employeeName,
              email: d.personalEmail,
              rsvp: true,
              partstat: 'NEEDS-ACTION' as const,
              role: 'REQ-PARTICIPANT' as const,
            },
          ]
        : []),
      {
        name: itDesk.name,
        email: itDesk.email,
        rsvp: false,
        partstat: 'ACCEPTED' as const,
        role: 'REQ-PARTICIPANT' as const,
      },
    ];
    const ics = createEvent({
      productId: 'offboard/asset-recovery',
      method: 'REQUEST',
      uid,
      sequence: 0,
      start: [start.year, start.month, start.day, start.hour, start.minute],
      startInputType: 'utc',
      startOutputType: 'utc',
      duration: { minutes: APPOINTMENT.durationMinutes },
      title: `Return of ${r.assetName} (${r.assetTag}) at ${itDesk.name}`,
      description: `Bring ${assetLine(r)} to ${itDesk.name}, ${itDesk.location}. To move the appointment, write to ${itDesk.email}.`,
      location: itDesk.location,
      status: 'CONFIRMED',
      busyStatus: 'BUSY',
      organizer: { name: itDesk.name, email: itDesk.email },
      attendees,
    });
    if (ics.error || !ics.value) throw rejected(`calendar invite for ${r.assetTag}: ${String(ics.error)}`);
    // DTSTAMP is "now" in the library; pin it to the recovery's creation so a resent invite is identical.
    const stamp = DateTime.fromJSDate(r.createdAt, { zone: 'UTC' }).toFormat("yyyyMMdd'T'HHmmss'Z'");
    const content = ics.value.replace(/^DTSTAMP:.*$/m, `DTSTAMP:${stamp}`);
    const to = d.personalEmail ?? itDesk.email;
    const cc = d.personalEmail ? [itDesk.email] : [];
    const sent = await mailer.send({
      key: `asset-return:${r.id}:appointment`,
      departureId: d.id,
      purpose: 'asset_return_appointment',
      to,
      cc,
      subject: `Appointment to return your company ${r.assetName} (${r.assetTag}): ${fmt(at)}`,
      text: [
        ...(d.personalEmail
          ? []
          : [
              `Note for ${itDesk.name}: there is no personal email on record for ${d.employeeName} and their work`,
              `account is disabled, so this invitation reaches only you. Please tell them in person or through`,
              `their manager${d.managerEmail ? ` (${d.managerEmail})` : ''}.`,
              '',
            ]),
        `Hello ${d.employeeName},`,
        '',
        `As part of your departure, please bring this company equipment to ${itDesk.name}, ${itDesk.location}:`,
        `  ${assetLine(r)}`,
        '',
        `Appointment: ${fmt(at)} (${APPOINTMENT.durationMinutes} minutes); the calendar invitation is attached.`,
        `If the time does not suit you, write to ${itDesk.email} to arrange another one`,
        `before ${fmtDeadline(r.dueAt)}.`,
      ].join('\n'),
      icalEvent: { method: 'REQUEST', filename: 'invite.ics', content },
    });
    await custodyOnce(r.id, 'appointment_booked', 'workflow', {
      at: at.toISOString(),
      location: itDesk.location,
      organizer: itDesk.email,
      attendees: attendees.map((a) => a.email),
      uid,
      messageId: sent.messageId,
    });
    await custodyOnce(r.id, 'requested', 'workflow', {
      route: 'in_office',
      to,
      cc,
      messageId: sent.messageId,
    });
    return finishRequest(r, d, null, at, [to, ...cc]);
  }

  async function finishRequest(
    r: Recovery,
    d: Departure,
    labelRef: string | null,
    appointmentAt: Date | null,
    notified: string[],
  ): Promise<AssetReturnRequested> {
    await db.assetRecovery.updateMany({
      where: { id: r.id, status: 'pending' },
      data: { status: 'requested' },
    });
    const now = await db.assetRecovery.findUniqueOrThrow({ where: { id: r.id } });
    await auditOnce(
      d.id,
      'asset_return_requested',
      {
        assetTag: r.assetTag,
        route: r.route,
        labelRef,
        appointmentAt: appointmentAt?.toISOString() ?? null,
        notified,
        attempt: Context.current().info.attempt,
      },
      r.id,
    );
    Context.current().log.info('asset return requested', { recoveryId: r.id, route: r.route });
    return {
      recoveryId: r.id,
      route: r.route as AssetRoute,
      status: now.status,
      labelRef: now.labelRef,
      appointmentAt: now.appointmentAt?.toISOString() ?? null,
      notified,
    };
  }

  /** The documented plan for an asset still missing after both windows. */
  function recoveryPlanText(r: Recovery, d: Departure): string {
    const contact = d.personalEmail ? `at ${d.personalEmail}` : 'through HR (no personal email on record)';
    const again = r.route === 'remote' ? 'the prepaid return label' : 'an IT desk appointment';
    return [
      `Recovery plan for ${assetLine(r)}, ${r.assetSource} id ${r.assetId}, held by ${d.employeeName} (${d.employeeId}, ${d.department}):`,
      `1. Contact: ${d.managerEmail ? `their former manager (${d.managerEmail})` : 'HR (no manager on record)'} contacts ${d.employeeName} ${contact} with a final return date 5 business days out; ${itDesk.name} offers ${again} again.`,
      '2. Cost: if it is still not returned, HR and Payroll recover its replacement cost per company policy, e.g. a deduction from the final pay only where the law and the employment contract allow it (confirm with HR/legal first).',
      `3. Data: ${assets.itOwner.name} marks the asset lost in the asset system, locks and wipes it remotely (MDM) and revokes any certificate or token bound to the device.`,
      '4. Security: report the unreturned asset to Security as a possible data-exposure incident (what data it may hold, when it was last seen).',
      '5. Record each step and its outcome in Offboard; the asset stays escalated until it is received or written off.',
    ].join('\n');
  }

  return {
    /**
     * Lists the assets assigned to the leaver in the asset system, routes the recovery by work location
     * (hybrid → `assets.hybridRoute`), records one AssetRecovery per asset and computes the two deadlines
     * in business days (company time zone, public holidays excluded). A retry returns the stored
     * recoveries and deadlines. No assets: records that fact (`no_assets_assigned`) and returns none.
     */
    async planAssetRecovery(input: { departureId: string }): Promise<AssetRecoveryPlan> {
      const d = await loadDeparture(input.departureId);
      const stored = await db.assetRecovery.findFirst({
        where: { departureId: d.id },
        orderBy: { createdAt: 'asc' },
      });
      const route = (stored?.route as AssetRoute | undefined) ?? routeOf(d);
      const dueAt = stored?.dueAt ?? addBusinessDays(new Date(), assets.returnWindowBusinessDays, cal);
      // The second window starts the day after the first one's last business day (dueAt - 1 ms is in it).
      const secondDueAt =
        stored?.secondDueAt ??
        addBusinessDays(new Date(dueAt.getTime() - 1), assets.escalationWindowBusinessDays, cal);
      const listed = await onTarget(`asset system ${assetSystem.name}`, () =>
        assetSystem.listAssigned({ employeeId: d.employeeId, workEmail: d.workEmail }),
      );
      for (const a of listed)
        await db.assetRecovery.upsert({
          where: {
            departureId_assetSource_assetId: {
              departureId: d.id,
              assetSource: assetSystem.name,
              assetId: a.id,
            },
          },
          create: {
            departureId: d.id,
            assetSource: assetSystem.name,
            assetId: a.id,
            assetTag: a.tag,
            assetName: a.name,
            route,
            dueAt,
            secondDueAt,
          },
          update: {},
        });
      const rows = await db.assetRecovery.findMany({
        where: { departureId: d.id },
        orderBy: { assetTag: 'asc' },
      });
      const toRecover: AssetToRecover[] = rows.map((x) => ({
        recoveryId: x.id,
        assetTag: x.assetTag,
        assetName: x.assetName,
      }));
      const window = {
        system: assetSystem.name,
        route,
        workLocation: d.workLocation,
        dueAt: dueAt.toISOString(),
        secondDueAt: secondDueAt.toISOString(),
        returnWindowBusinessDays: assets.returnWindowBusinessDays,
        escalationWindowBusinessDays: assets.escalationWindowBusinessDays,
        holidays: assets.holidays,
        timeZone: cal.timeZone,
      };
      if (rows.length === 0)
        await auditOnce(d.id, 'no_assets_assigned', {
          system: assetSystem.name,
          employeeId: d.employeeId,
          detail: `the asset system "${assetSystem.name}" lists no asset assigned to ${d.employeeId}`,
        });
      else
        await auditOnce(d.id, 'asset_recovery_planned', {
          ...window,
          assets: rows.map((x) => `${x.assetTag}: ${x.assetName}`),
        });
      Context.current().log.info('asset recovery planned', { departureId: d.id, route, assets: rows.length });
      return { route, assets: toRecover, dueAt: dueAt.toISOString(), secondDueAt: secondDueAt.toISOString() };
    },

    /**
     * Asks for one asset back. Remote: a prepaid label from the shipping provider, a return request to
     * the leaver's PERSONAL email (never the work address; none on record → non-retryable
     * TargetRejectedError naming `personalEmail`) and the asset marked "return in progress". In office:
     * an appointment at the IT desk (next business day, 10:00 company time) sent with an .ics invite
     * (METHOD:REQUEST) to the personal email and the IT desk. Writes a custody entry per action.
     * Idempotent; an asset already received is left alone.
     */
    async requestAssetReturn(input: {
      departureId: string;
      recoveryId: string;
    }): Promise<AssetReturnRequested> {
      const r = await loadRecovery(input.departureId, input.recoveryId);
      if (r.status === 'received')
        return {
          recoveryId: r.id,
          route: r.route as AssetRoute,
          status: r.status,
          labelRef: r.labelRef,
          appointmentAt: r.appointmentAt?.toISOString() ?? null,
          notified: [],
        };
      return r.route === 'remote' ? remoteReturn(r, r.departure) : inOfficeReturn(r, r.departure);
    },

    /**
     * The IT desk received an asset: finds its recovery by asset tag within the departure (an unknown tag
     * is refused, non-retryable), records who received it, when, its condition, who inspected it and the
     * notes (custody `received`), checks it in in the asset system (custody `checked_in`) and marks the
     * recovery received. A repeated receipt of the same tag changes nothing and checks in nothing again.
     * Returns the recovery id.
     */
    async recordAssetReceipt(input: { departureId: string; receipt: AssetReceipt }): Promise<string> {
      const { receipt } = input;
      for (const f of ['assetTag', 'receivedBy', 'condition', 'inspectedBy'] as const)
        if (typeof receipt[f] !== 'string' || !receipt[f].trim())
          throw rejected(`asset receipt: field "${f}" is required`);
      const tag = receipt.assetTag.trim();
      const candidates = await db.assetRecovery.findMany({
        where: { departureId: input.departureId, assetTag: { equals: tag, mode: 'insensitive' } },
      });
      const r =
        candidates.find((x) => x.assetTag === tag) ?? (candidates.length === 1 ? candidates[0] : undefined);
      if (!r) {
        const known = await db.assetRecovery.findMany({
          where: { departureId: input.departureId },
          select: { assetTag: true },
          orderBy: { assetTag: 'asc' },
        });
        throw rejected(
          `asset tag "${tag}" is not among the assets of departure ${input.departureId}` +
            (known.length
              ? ` (expected one of: ${known.map((k) => k.assetTag).join(', ')})`
              : ' (it has none)'),
        );
      }
      const d = await loadDeparture(input.departureId);
      await db.assetRecovery.updateMany({
        where: { id: r.id, receivedAt: null },
        data: {
          status: 'received',
          receivedAt: new Date(),
          receivedBy: receipt.receivedBy.trim(),
          condition: receipt.condition.trim(),
          inspectedBy: receipt.inspectedBy.trim(),
          notes: receipt.notes ?? '',
        },
      });
      // The first receipt stands; a repeated one is answered from what was stored.
      const cur = await db.assetRecovery.findUniqueOrThrow({ where: { id: r.id } });
      await custodyOnce(r.id, 'received', `itdesk:${cur.receivedBy}`, {
        receivedBy: cur.receivedBy,
        receivedAt: cur.receivedAt?.toISOString(),
        condition: cur.condition,
        inspectedBy: cur.inspectedBy,
        notes: cur.notes,
        previousStatus: r.status,
      });
      if (!(await hasCustody(r.id, 'checked_in'))) {
        sameSystem(r);
        const note =
          `Returned by ${d.employeeName} (${d.employeeId}) at offboarding ${d.id}: received by ${cur.receivedBy}, ` +
          `inspected by ${cur.inspectedBy}, condition ${cur.condition}${cur.notes ? `; ${cur.notes}` : ''}`;
        await onTarget(`asset system ${assetSystem.name}`, () => assetSystem.checkIn(r.assetId, note));
        await custodyOnce(r.id, 'checked_in', `asset-system:${assetSystem.name}`, {
          system: assetSystem.name,
          assetId: r.assetId,
          note,
        });
      }
      await auditOnce(
        d.id,
        'asset_received',
        {
          assetTag: cur.assetTag,
          receivedBy: cur.receivedBy,
          inspectedBy: cur.inspectedBy,
          condition: cur.condition,
          system: assetSystem.name,
        },
        r.id,
      );
      Context.current().log.info('asset received', { recoveryId: r.id });
      return r.id;
    },

    /**
     * An asset was not received in time. Level `it_owner` (after the return window): tells the IT asset
     * owner and marks the recovery `escalated_it`. Level `department_head` (after the second window):
     * records a recovery plan (contact via manager, cost recovery per policy where lawful, mark lost and
     * wipe/lock remotely, report to security) on the recovery and in its chain of custody, and sends it to
     * the department head (the IT owner when there is none, saying so). Idempotent; a received asset is
     * not escalated.
     */
    async escalateOverdueAsset(input: {
      departureId: string;
      recoveryId: string;
      level: 'it_owner' | 'department_head';
    }): Promise<AssetEscalation> {
      const r = await loadRecovery(input.departureId, input.recoveryId);
      const d = r.departure;
      const owner = assets.itOwner;
      if (r.status === 'received')
        return {
          recoveryId: r.id,
          level: input.level,
          status: r.status,
          notified: [],
          recoveryPlan: r.recoveryPlan,
        };
      const requested =
        r.route === 'remote' ? 'a return request with a prepaid label' : 'an IT desk appointment';
      const facts = [
        `Asset: ${assetLine(r)} (${r.assetSource} id ${r.assetId})`,
        `Held by: ${d.employeeName} (${d.employeeId}, ${d.department})`,
        `Route: ${r.route === 'remote' ? 'remote return' : 'in-office return'}; the employee was sent ${requested}.`,
        `Return window ended: ${fmtDeadline(r.dueAt)}`,
        `Departure: ${deps.publicUrl}/departures/${d.id}`,
      ];
      if (input.level === 'it_owner') {
        const sent = await mailer.send({
          key: `asset-escalation:${r.id}:it_owner`,
          departureId: d.id,
          purpose: 'asset_escalated_it',
          to: owner.email,
          subject: `[Offboard] Overdue asset: ${r.assetName} (${r.assetTag}) not returned by ${d.employeeName}`,
          text: [
            `Hello ${owner.name},`,
            '',
            `${d.employeeName} has not returned a company asset within ${assets.returnWindowBusinessDays} business days.`,
            '',
            ...facts,
            '',
            'Please follow up with them (and the IT desk). When the asset arrives, record its receipt in Offboard.',
            `If it is not received by ${fmtDeadline(r.secondDueAt)}, the department head is told and a recovery plan recorded.`,
          ].join('\n'),
        });
        await db.assetRecovery.updateMany({
          where: { id: r.id, status: { in: ['pending', 'requested'] } },
          data: { status: 'escalated_it' },
        });
        await custodyOnce(r.id, 'escalated_it', 'workflow', {
          to: owner.email,
          dueAt: r.dueAt?.toISOString() ?? null,
          messageId: sent.messageId,
        });
        await auditOnce(d.id, 'asset_escalated_it', { assetTag: r.assetTag, notified: [owner.email] }, r.id);
        const now = await db.assetRecovery.findUniqueOrThrow({ where: { id: r.id } });
        return {
          recoveryId: r.id,
          level: 'it_owner',
          status: now.status,
          notified: [owner.email],
          recoveryPlan: null,
        };
      }

      await db.assetRecovery.updateMany({
        where: { id: r.id, recoveryPlan: null },
        data: { recoveryPlan: recoveryPlanText(r, d) },
      });
      await db.assetRecovery.updateMany({
        where: { id: r.id, status: { not: 'received' } },
        data: { status: 'escalated_department_head' },
      });
      const cur = await db.assetRecovery.findUniqueOrThrow({ where: { id: r.id } });
      const plan = cur.recoveryPlan!;
      const head = d.departmentHeadEmail;
      const to = head ?? owner.email;
      const cc = head ? [owner.email] : [];
      const sent = await mailer.send({
        key: `asset-escalation:${r.id}:department_head`,
        departureId: d.id,
        purpose: 'asset_escalated_department_head',
        to,
        cc,
        subject: `[Offboard] Asset still not returned: ${r.assetName} (${r.assetTag}) from ${d.employeeName}: recovery plan`,
        text: [
          head ? `Hello,` : `Hello ${owner.name},`,
          '',
          ...(head
            ? []
            : [
                `No department head is on record for ${d.department}, so this escalation comes to you, the IT asset`,
                'owner, instead. Please pass it on to whoever heads the department.',
                '',
              ]),
          `${d.employeeName} has still not returned a company asset, ${assets.escalationWindowBusinessDays} business days after ${owner.name} was told.`,
          '',
          ...facts,
          '',
          plan,
        ].join('\n'),
      });
      await custodyOnce(r.id, 'escalated_department_head', 'workflow', {
        to,
        cc,
        departmentHeadMissing: !head,
        secondDueAt: r.secondDueAt?.toISOString() ?? null,
        recoveryPlan: plan,
        messageId: sent.messageId,
      });
      await auditOnce(
        d.id,
        'asset_escalated_department_head',
        { assetTag: r.assetTag, notified: [to, ...cc], departmentHeadMissing: !head, recoveryPlan: plan },
        r.id,
      );
      return {
        recoveryId: r.id,
        level: 'department_head',
        status: cur.status,
        notified: [to, ...cc],
        recoveryPlan: plan,
      };
    },
  };
}

/** The asset activity interface workflows proxy. */
export type AssetActivities = ReturnType<typeof createAssetActivities>;
