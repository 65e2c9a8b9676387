/**
 * The general path of a confirmed departure: in one transaction, find the employee's departure of this
 * termination (or the open one), apply what the event changes on it (a moved last day, contact
 * addresses, known account ids) or create it, and log the event with its outcome and audit rows.
 */
import { randomUUID } from 'node:crypto';
import type { Departure } from '@prisma/client';
import { knownAccounts, offboardingWorkflowId, type ContactUpdate, type LastDayChange } from '../../contract';
import { audit, Prisma } from '../../lib/db';
import type { HrisEvent } from '../hris';
import { RESCINDED_DEPARTURE } from '../starter';
import {
  CLOSED_DEPARTURE_STATUSES,
  OPEN_STATUSES,
  keyName,
  sourceOf,
  type EventBase,
  type IntakeContext,
  type Origin,
} from './types';

type Tx = Prisma.TransactionClient;
type AuditRow = Parameters<typeof audit>[1];

/** The contact addresses a re-sent termination may fill in or correct on its open departure. */
const CONTACT_FIELDS = ['personalEmail', 'managerEmail', 'departmentHeadEmail'] as const;

/** One change an event made to an existing departure. */
interface Change {
  dep: Departure;
  audit: AuditRow;
  /** For the trigger event's `reason`. */
  reason: string;
}

/** What the event is, for each step: the event, its idempotency key and who sent it. */
interface Delivery {
  event: HrisEvent;
  key: string;
  origin: Origin;
}

/** What `storeDeparture` wrote. */
export interface Stored {
  dep: Departure;
  created: boolean;
  lastDayUpdated: boolean;
  contactUpdated: boolean;
  accountsUpdated: boolean;
}

/**
 * Stores a confirmed departure event. `held` (an operator's departure awaiting a second operator)
 * creates the departure held; `inline` counts the start that follows the transaction.
 */
export async function storeDeparture(
  ctx: IntakeContext,
  d: Delivery,
  base: EventBase,
  inline: boolean,
  held: string | null,
): Promise<Stored> {
  const { event, key, origin } = d;
  const terminationKey = new Date(event.termination!.confirmedAt).toISOString();
  return ctx.db.$transaction(async (tx) => {
    let dep = await findDeparture(tx, event.employee.id, terminationKey);
    const lastDay = dep && (await moveLastDay(tx, dep, d));
    dep = lastDay?.dep ?? dep;
    const thisOpen = dep && isOpenTermination(dep, terminationKey) ? dep : null;
    const contact = thisOpen && (await updateContacts(tx, thisOpen, d));
    dep = contact?.dep ?? dep;
    const accounts = thisOpen && (await updateAccounts(tx, contact?.dep ?? thisOpen, d));
    dep = accounts?.dep ?? dep;
    const created = !dep;
    if (!dep) dep = await createDeparture(tx, d, inline, held);
    const changes = [lastDay, contact, accounts].filter((c): c is Change => !!c);
    await tx.triggerEvent.create({
      data: {
        ...base,
        idempotencyKey: key,
        signatureResult: origin.signatureResult,
        hrisStatus: event.status,
        employeeId: event.employee.id,
        outcome: created ? (held ? 'held' : 'queued') : changes.length > 0 ? 'updated' : 'duplicate',
        reason: created
          ? held
          : changes.length > 0
            ? changes.map((c) => c.reason).join('; ')
            : `offboarding ${dep.id} already exists for this employee`,
        payload: event as unknown as Prisma.InputJsonValue,
        departureId: dep.id,
      },
    });
    // Audit rows last: each append takes the chain's lock, held to commit (never lock, then wait on the
    // event's unique key).
    for (const c of changes) await audit(tx, c.audit);
    if (created)
      await audit(tx, {
        actor: origin.actor,
        action: held ? 'departure_held' : 'departure_accepted',
        departureId: dep.id,
        details: {
          [keyName(origin)]: key,
          status: event.status,
          terminationType: event.termination!.type,
          ...(held ? { awaitingApproval: held } : {}),
        },
      });
    return {
      dep,
      created,
      lastDayUpdated: !!lastDay,
      contactUpdated: !!contact,
      accountsUpdated: !!accounts,
    };
  });
}

/**
 * The departure of this very termination if there is one (even rescinded or finished: a late copy of a
 * rescinded termination must not touch the employee's next offboarding), else the employee's open one.
 */
async function findDeparture(tx: Tx, employeeId: string, terminationKey: string): Promise<Departure | null> {
  const candidates = await tx.departure.findMany({
    where: {
      employeeId,
      OR: [{ terminationKey }, { status: { notIn: CLOSED_DEPARTURE_STATUSES }, NOT: RESCINDED_DEPARTURE }],
    },
    orderBy: { createdAt: 'desc' },
    take: 2,
  });
  return candidates.find((c) => c.terminationKey === terminationKey) ?? candidates[0] ?? null;
}

/** This same termination, not rescinded and not finished: the one whose details an event may update. */
function isOpenTermination(dep: Departure, terminationKey: string): boolean {
  return (
    dep.terminationKey === terminationKey &&
    dep.rescindedAt === null &&
    !CLOSED_DEPARTURE_STATUSES.includes(dep.status)
  );
}

/** Stores a message for the running offboarding, delivered by the starter (`deliverMessages`). */
async function queueMessage(
  tx: Tx,
  departureId: string,
  kind: 'lastDayChanged' | 'contactUpdated',
  payload: LastDayChange | ContactUpdate,
): Promise<void> {
  await tx.workflowMessage.create({
    data: { departureId, kind, payload: payload as unknown as Prisma.InputJsonValue },
  });
}

/** The HRIS moved the last day of a running offboarding: record it and tell the workflow. */
async function moveLastDay(tx: Tx, dep: Departure, { event, key, origin }: Delivery): Promise<Change | null> {
  const lastDay = event.termination!.lastDay;
  if (!lastDay || lastDay === dep.lastDay || !OPEN_STATUSES.includes(dep.status)) return null;
  if (await tx.workflowMessage.findFirst({ where: { departureId: dep.id, kind: 'rescind' } })) return null;
  const from = dep.lastDay;
  const updated = await tx.departure.update({ where: { id: dep.id }, data: { lastDay } });
  const change: LastDayChange = { lastDay, source: sourceOf(origin, key) };
  await queueMessage(tx, dep.id, 'lastDayChanged', change);
  return {
    dep: updated,
    reason: `last day moved from ${from ?? '(none)'} to ${lastDay}`,
    audit: {
      actor: origin.actor,
      action: 'last_day_changed',
      departureId: dep.id,
      details: { [keyName(origin)]: key, from, to: lastDay },
    },
  };
}

/**
 * The HRIS filled in or corrected a contact address of this same, still open termination (e.g. the
 * personal email it lacked): kept on the departure, so every email from now on uses it.
 */
async function updateContacts(
  tx: Tx,
  dep: Departure,
  { event, key, origin }: Delivery,
): Promise<Change | null> {
  const changes: Record<string, { from: string | null; to: string }> = {};
  for (const f of CONTACT_FIELDS) {
    const to = event.employee[f];
    if (to && to !== dep[f]) changes[f] = { from: dep[f], to };
  }
  const fields = Object.keys(changes);
  if (fields.length === 0) return null;
  const updated = await tx.departure.update({
    where: { id: dep.id },
    data: Object.fromEntries(Object.entries(changes).map(([f, c]) => [f, c.to])),
  });
  // The running offboarding sends again what failed for want of the address (names only: the addresses
  // stay in the database, out of the workflow history).
  const update: ContactUpdate = { fields, source: sourceOf(origin, key) };
  await queueMessage(tx, dep.id, 'contactUpdated', update);
  return {
    dep: updated,
    reason: `contact updated: ${fields.join(', ')}`,
    audit: {
      actor: origin.actor,
      action: 'contact_updated',
      departureId: dep.id,
      details: { [keyName(origin)]: key, changes },
    },
  };
}

/**
 * Account ids named (or corrected) for this same, still open termination: kept on the departure; a step
 * tried again (a re-drive) reads them.
 */
async function updateAccounts(
  tx: Tx,
  dep: Departure,
  { event, key, origin }: Delivery,
): Promise<Change | null> {
  const named = event.employee.accounts;
  if (!named) return null;
  const before = knownAccounts(dep.accounts);
  const changes = Object.fromEntries(
    Object.entries(named)
      .filter(([sys, id]) => before[sys] !== id)
      .map(([sys, id]) => [sys, { from: before[sys] ?? null, to: id }]),
  );
  if (Object.keys(changes).length === 0) return null;
  const updated = await tx.departure.update({
    where: { id: dep.id },
    data: { accounts: { ...before, ...named } },
  });
  return {
    dep: updated,
    reason: 'known account ids updated',
    audit: {
      actor: origin.actor,
      action: 'accounts_updated',
      departureId: dep.id,
      details: { [keyName(origin)]: key, changes },
    },
  };
}

/** A new departure for this termination (held when it waits for a second operator). */
async function createDeparture(
  tx: Tx,
  { event, origin }: Delivery,
  inline: boolean,
  held: string | null,
): Promise<Departure> {
  const t = event.termination!;
  const e = event.employee;
  return tx.departure.create({
    data: {
      id: `dep_${randomUUID()}`,
      employeeId: e.id,
      terminationKey: new Date(t.confirmedAt).toISOString(),
      workflowId: offboardingWorkflowId(e.id),
      employeeName: e.name,
      workEmail: e.workEmail,
      personalEmail: e.personalEmail ?? null,
      department: e.department,
      managerEmail: e.managerEmail ?? null,
      departmentHeadEmail: e.departmentHeadEmail ?? null,
      workLocation: e.workLocation,
      terminationType: t.type,
      confirmedAt: new Date(t.confirmedAt),
      lastDay: t.lastDay ?? null,
      occurredAt: new Date(event.occurredAt),
      // Counted now when the start follows this transaction (the dispatcher counts its own).
      startAttempts: held ? 0 : inline ? 1 : 0,
      accounts: e.accounts ?? Prisma.DbNull,
      submittedBy: origin.source === 'operator' ? origin.actor : null,
      ...(held ? { status: 'awaiting_approval', approvalReason: held } : {}),
    },
  });
}
