/**
 * Follow-up work operators record: a returned asset, a data archive confirmed. Thin routes over
 * server/recovery.ts.
 */
import express from 'express';
import { confirmArchive, receiveAsset } from '../recovery';
import { jsonBody, parseBody } from '../route-helpers';
import { archiveConfirmedBody, assetReceivedBody } from '../schemas';
import type { RouteContext } from './context';

export function createRecoveryRouter(deps: RouteContext): express.Router {
  const r = express.Router();
  /**
   * The IT desk records a returned asset: chain of custody and check-in happen in the workflow (signal
   * `assetReceived`). Roles itdesk, admin.
   */
  r.post('/departures/:id/assets/:tag/received', deps.requireRole('itdesk'), jsonBody(), async (req, res) => {
    const body = parseBody(assetReceivedBody, req.body);
    const { id, tag } = req.params as { id: string; tag: string };
    res.status(202).json(await receiveAsset(deps, id, tag, body, req.operator!));
  });

  /**
   * Records that a data source's owner archived the leaver's data (the built-in manual archive connector
   * keeps it pending until then): signal `archiveConfirmed`; the workflow records it and generates the
   * data-archiving confirmation again. Roles it, admin.
   */
  r.post(
    '/departures/:id/archives/:sourceId/confirmed',
    deps.requireRole('it'),
    jsonBody(),
    async (req, res) => {
      const body = parseBody(archiveConfirmedBody, req.body);
      const { id, sourceId } = req.params as { id: string; sourceId: string };
      res.status(202).json(await confirmArchive(deps, id, sourceId, body, req.operator!));
    },
  );
  return r;
}
