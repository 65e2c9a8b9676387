/**
 * Follow-up work operators record: the IT desk receives a returned asset; IT relays a data source
 * owner's word that the leaver's data is archived. Each is checked against the record and sent to the
 * running offboarding once.
 */
import type { z } from 'zod';
import { archiveConfirmedSignal, assetReceivedSignal } from '../contract';
import type { Db } from '../lib/db';
import { AppError } from '../lib/errors';
import type { Operator } from './accounts';
import type { archiveConfirmedBody, assetReceivedBody } from './schemas';
import type { WorkflowCalls } from './workflow-calls';

type Deps = { db: Db; calls: WorkflowCalls };

/**
 * Sends a returned asset's receipt to the offboarding (chain of custody and check-in happen there):
 * 404 no such asset to recover, 409 already received.
 */
export async function receiveAsset(
  { db, calls }: Deps,
  id: string,
  tag: string,
  body: z.output<typeof assetReceivedBody>,
  operator: Operator,
): Promise<{ departureId: string; assetTag: string; action: 'receipt_sent' }> {
  const { workflowIdOf, sendOnce, signalRunning } = calls;
  const dep = { workflowId: await workflowIdOf(id) };
  const recovery = await db.assetRecovery.findFirst({ where: { departureId: id, assetTag: tag } });
  if (!recovery) throw new AppError('not_found', `departure ${id} has no asset with tag ${tag} to recover`);
  if (recovery.status === 'received')
    throw new AppError('conflict', `asset ${tag} was already received by ${recovery.receivedBy ?? '?'}`);
  const receipt = {
    assetTag: tag,
    receivedBy: body.receivedBy ?? operator.name,
    condition: body.condition,
    inspectedBy: body.inspectedBy,
    notes: body.notes,
  };
  await sendOnce({
    key: `asset_receipt:${id}:${tag}`,
    departureId: id,
    action: 'asset_receipt_sent',
    what: `the receipt of asset ${tag}`,
    actor: `operator:${operator.name}`,
    details: { ...receipt, role: operator.role },
    send: () =>
      signalRunning(
        id,
        dep.workflowId,
        `record the late return of ${tag} in the asset system`,
        assetReceivedSignal,
        receipt,
      ),
  });
  return { departureId: id, assetTag: tag, action: 'receipt_sent' };
}

/**
 * Sends a data source owner's word that the archive is done to the offboarding, which records it and
 * generates the data-archiving confirmation again: 404 no such archive, 409 already confirmed.
 */
export async function confirmArchive(
  { db, calls }: Deps,
  id: string,
  sourceId: string,
  body: z.output<typeof archiveConfirmedBody>,
  operator: Operator,
): Promise<{ departureId: string; sourceId: string; action: 'confirmation_sent' }> {
  const { workflowIdOf, sendOnce, signalRunning } = calls;
  const dep = { workflowId: await workflowIdOf(id) };
  const record = await db.archiveRecord.findUnique({
    where: { departureId_sourceId: { departureId: id, sourceId } },
  });
  if (!record)
    throw new AppError('not_found', `departure ${id} has no archive of data source ${sourceId} to confirm`);
  if (record.status === 'archived')
    throw new AppError(
      'conflict',
      `the archive of ${sourceId} was already confirmed${record.archivedAt ? ` (${record.archivedAt.toISOString()})` : ''}`,
    );
  const confirmation = {
    sourceId,
    items: body.items,
    confirmedBy: operator.name,
    note: body.note,
    at: new Date().toISOString(),
  };
  await sendOnce({
    key: `archive_confirmation:${id}:${sourceId}`,
    departureId: id,
    action: 'archive_confirmation_sent',
    what: `the confirmation of the archive of ${sourceId}`,
    actor: `operator:${operator.name}`,
    details: { ...confirmation, role: operator.role },
    send: () =>
      signalRunning(
        id,
        dep.workflowId,
        `record the archive of ${sourceId} by hand`,
        archiveConfirmedSignal,
        confirmation,
      ),
  });
  return { departureId: id, sourceId, action: 'confirmation_sent' };
}
