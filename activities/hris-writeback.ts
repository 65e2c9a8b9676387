/**
 * Write-back (docs/hris.md): the completion certificate (and the signed NDA, when its copy is stored)
 * of every completed offboarding a vendor brought is uploaded to the employee's record in that HR system
 * (BambooHR employee files, Personio documents), then confirmed by listing the record's files back; only
 * then is it recorded (`hris_record_written` audit row, with the vendor's file id). Runs in each
 * reconciliation; a document already listed under its name is not uploaded twice (a crash between upload
 * and record).
 */
import type { HrisVendor } from '../contract';
import { audit, type Db } from '../lib/db';
import type { HrisAdapter } from '../hris/types';
import { vendorKeyPrefixes } from '../server/intake/vendor-map';

const WRITTEN = 'hris_record_written';
const LABEL: Record<string, string> = {
  completion_certificate: 'Offboarding completion certificate',
  nda_acknowledgment: 'Signed NDA acknowledgment',
};

export interface WriteBackResult {
  vendor: HrisVendor;
  /** Documents written and listed back in this run. */
  written: { departureId: string; documentId: string; fileId: string }[];
  /** Set when the vendor has no file API (or none is configured): where the record stays. */
  notSupported?: string;
}

export async function writeBackRecords(db: Db, adapter: HrisAdapter, limit = 25): Promise<WriteBackResult> {
  const out: WriteBackResult = { vendor: adapter.vendor, written: [] };
  if (!adapter.files) {
    out.notSupported = `${adapter.title}: no file write-back configured; the certificate and signed NDA stay in Offboard (GET /departures/{id}/certificate)`;
    return out;
  }
  const docs = await db.document.findMany({
    where: {
      type: { in: Object.keys(LABEL) },
      status: { in: ['generated', 'signed'] },
      content: { not: null },
      departure: {
        status: 'completed',
        triggerEvents: {
          some: { OR: vendorKeyPrefixes(adapter.vendor).map((p) => ({ idempotencyKey: { startsWith: p } })) },
        },
      },
    },
    select: {
      id: true,
      type: true,
      sha256: true,
      content: true,
      departureId: true,
      departure: { select: { employeeId: true } },
    },
    orderBy: { createdAt: 'asc' },
  });
  const done = new Set(
    (
      await db.auditEvent.findMany({
        where: { action: WRITTEN, departureId: { in: [...new Set(docs.map((d) => d.departureId))] } },
        select: { details: true },
      })
    ).map((a) => (a.details as { documentId?: string }).documentId),
  );
  for (const doc of docs.filter((d) => !done.has(d.id)).slice(0, limit)) {
    const vendorId = doc.departure.employeeId;
    const name = `${LABEL[doc.type]} ${vendorId} ${(doc.sha256 ?? '').slice(0, 12)}.pdf`;
    const listed = async () => (await adapter.files!.list(vendorId)).find((f) => f.name === name);
    const file =
      (await listed()) ?? (await adapter.files.upload(vendorId, { name, bytes: Buffer.from(doc.content!) }));
    // Confirmed only when the record lists it.
    const confirmed = await listed();
    if (!confirmed)
      throw new Error(`${adapter.title} does not list ${name} on employee ${vendorId} after the upload`);
    await audit(db, {
      actor: `hris:${adapter.vendor}`,
      action: WRITTEN,
      departureId: doc.departureId,
      details: {
        vendor: adapter.vendor,
        documentId: doc.id,
        type: doc.type,
        sha256: doc.sha256,
        fileId: confirmed.id || file.id,
        fileName: name,
        confirmedBy: 'listed back from the employee record',
      },
    });
    out.written.push({ departureId: doc.departureId, documentId: doc.id, fileId: confirmed.id || file.id });
  }
  return out;
}
