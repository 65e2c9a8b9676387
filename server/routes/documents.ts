/** A departure's compliance documents: the list, and one stored document to download. */
import express from 'express';
import { documentFile, listDocuments } from '../documents';
import type { RouteContext } from './context';

export function createDocumentsRouter({ db, requireRole }: RouteContext): express.Router {
  const r = express.Router();

  /** The compliance documents of a departure (type, status, hash, whether it can be downloaded). Roles hr, it. */
  r.get('/departures/:id/documents', requireRole('hr', 'it'), async (req, res) => {
    res.json(await listDocuments(db, String(req.params.id)));
  });

  /**
   * Downloads one stored document (e.g. the completion certificate PDF), with its SHA-256 in
   * `x-content-sha256`. Roles hr, it.
   */
  r.get('/departures/:id/documents/:type', requireRole('hr', 'it'), async (req, res) => {
    const file = await documentFile(db, String(req.params.id), String(req.params.type));
    res.setHeader('content-disposition', `attachment; filename="${file.filename}"`);
    if (file.kind === 'json') {
      res.json(file.body);
      return;
    }
    res.setHeader('content-type', file.contentType);
    if (file.sha256) res.setHeader('x-content-sha256', file.sha256);
    res.send(file.bytes);
  });
  return r;
}
