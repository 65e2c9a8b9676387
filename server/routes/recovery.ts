/**
 * Follow-up work operators record: the IT desk receives a returned asset; IT relays a data source
 * owner's word that the leaver's data is archived. Each is sent to the running offboarding once.
 */
import express from 'express';
import { archiveConfirmedSignal, assetReceivedSignal } from '../../contract';
import { AppError } from '../../lib/errors';
import { jsonBody, parseBody } from '../route-helpers';
import { archiveConfirmedBody, assetReceivedBody } from '../schemas';
import type { RouteContext } from './context';

export function createRecoveryRouter({ db, requireRole, calls }: RouteContext): express.Router {
  const { workflowIdOf, sendOnce, signalRunning } = calls;
  const r = express.Router();
  /**
   * The IT desk records a returned asset: chain of custody and check-in happen in the workflow (signal
   * `assetReceived`). Roles itdesk, admin.
   */
  r.post('/departures/:id/assets/:tag/received', requireRole('itdesk'), jsonBody(), async (req, res) => {
    const body = parseBody(assetReceivedBody, req.body);
    const id = String(req.params.id);
    const tag = String(req.params.tag);
    const dep = { workflowId: await workflowIdOf(id) };
    const recovery = await db.assetRecovery.findFirst({ where: { departureId: id, assetTag: tag } });
    if (!recovery) throw new AppError('not_found', `departure ${id} has no asset with tag ${tag} to recover`);
    if (recovery.status === 'received')
      throw new AppError('conflict', `asset ${tag} was already received by ${recovery.receivedBy ?? '?'}`);
    const operator = req.operator!;
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
    res.status(202).json({ departureId: id, assetTag: tag, action: 'receipt_sent' });
  });

  /**
   * Records that a data source's owner archived the leaver's data (the built-in manual archive connector
   * keeps it pending until then): signal `archiveConfirmed`; the workflow records it and generates the
   * data-archiving confirmation again. Roles it, admin.
   */
  r.post('/departures/:id/archives/:sourceId/confirmed', requireRole('it'), jsonBody(), async (req, res) => {
    const body = parseBody(archiveConfirmedBody, req.body);
    const id = String(req.params.id);
    const sourceId = String(req.params.sourceId);
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
    const operator = req.operator!;
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
    res.status(202).json({ departureId: id, sourceId, action: 'confirmation_sent' });
  });
  return r;
}
