/**
 * The leaver's accounts, as operators act on them: a second operator approves a held departure (an
 * operator's involuntary departure of a protected account), and IT records the account id matching
 * could not find (then re-drives the red step). Every write audited.
 */
import type { z } from 'zod';
import { knownAccounts, type DepartureStatus } from '../contract';
import { audit, type Db } from '../lib/db';
import { AppError } from '../lib/errors';
import type { AccountPolicy } from './account-policy';
import type { accountBody } from './schemas';
import type { Starter } from './starter';

/** Departure statuses an account id can no longer help. */
const CLOSED: readonly string[] = ['completed', 'rescinded', 'blocked'] satisfies DepartureStatus[];

/** The operator acting (from the request's token). */
export interface Operator {
  name: string;
  role: string;
}

/**
 * Approves a held departure and starts it. The operator who submitted it cannot approve it (403); one
 * not held is a 409; two approvals at once: one wins, the other is a 409.
 */
export async function approveDeparture(
  deps: { db: Db; starter: Starter },
  id: string,
  operator: Operator,
  note: string,
): Promise<{ departureId: string; workflowId: string; action: 'started' | 'queued' }> {
  const { db } = deps;
  const d = await db.departure.findUnique({ where: { id } });
  if (!d) throw new AppError('not_found', `no departure ${id}`);
  if (d.status !== 'awaiting_approval')
    throw new AppError(
      'conflict',
      d.approvedBy
        ? `departure ${id} was already approved by ${d.approvedBy.replace(/^operator:/, '')}`
        : `departure ${id} is ${d.status}: only a departure awaiting approval is approved`,
    );
  const by = `operator:${operator.name}`;
  if (d.submittedBy === by)
    throw new AppError(
      'forbidden',
      'you submitted this departure: a second operator must approve it (four eyes on a protected account)',
    );
  const approved = await db.$transaction(async (tx) => {
    const r = await tx.departure.updateMany({
      where: { id, status: 'awaiting_approval' },
      data: { status: 'accepted', approvedBy: by, approvedAt: new Date() },
    });
    if (r.count === 0) return false;
    await audit(tx, {
      actor: by,
      action: 'departure_approved',
      departureId: id,
      details: { role: operator.role, note, reason: d.approvalReason, submittedBy: d.submittedBy },
    });
    return true;
  });
  if (!approved) throw new AppError('conflict', `departure ${id} was approved meanwhile`);
  const started = await deps.starter.startDeparture(d, by);
  if (!started.started) deps.starter.queued();
  return { departureId: d.id, workflowId: d.workflowId, action: started.started ? 'started' : 'queued' };
}

/**
 * Records the account id of a catalog system for a departure (it wins over every matching key); a
 * step tried again after this, a re-drive, acts on that account. Returns the id it replaced.
 */
export async function recordAccount(
  deps: { db: Db; accounts: AccountPolicy },
  id: string,
  body: z.output<typeof accountBody>,
  operator: Operator,
): Promise<{ departureId: string; systemId: string; accountId: string; replaced: string | null }> {
  const { systemId } = body;
  const problems = deps.accounts.check({ [systemId]: body.accountId });
  if (problems.length > 0)
    throw new AppError('validation_failed', problems[0]!.message, {
      fields: problems.map((p) => ({ ...p, field: 'systemId' })),
    });
  return deps.db.$transaction(async (tx) => {
    // Locked: two operators recording at once each see the other's change.
    const [d] = await tx.$queryRaw<{ status: string; accounts: unknown }[]>`
      SELECT status, accounts FROM "Departure" WHERE id = ${id} FOR UPDATE`;
    if (!d) throw new AppError('not_found', `no departure ${id}`);
    if (CLOSED.includes(d.status))
      throw new AppError('conflict', `departure ${id} is ${d.status}: an account id cannot change it now`);
    const accounts = knownAccounts(d.accounts);
    const replaced = accounts[systemId] ?? null;
    await tx.departure.update({
      where: { id },
      data: { accounts: { ...accounts, [systemId]: body.accountId } },
    });
    await audit(tx, {
      actor: `operator:${operator.name}`,
      action: 'account_recorded',
      departureId: id,
      details: { systemId, accountId: body.accountId, replaced, note: body.note, role: operator.role },
    });
    return { departureId: id, systemId, accountId: body.accountId, replaced };
  });
}
