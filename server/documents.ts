/** Reading a departure's compliance documents: the list, and one stored document's bytes. */
import { DOCUMENT_TYPES } from '../contract';
import type { Db } from '../lib/db';
import { AppError } from '../lib/errors';

/** Every document of a departure (type, status, hash, timestamps) and whether its bytes are stored. */
export async function listDocuments(db: Db, id: string) {
  const dep = await db.departure.findUnique({ where: { id }, select: { id: true } });
  if (!dep) throw new AppError('not_found', `no departure ${id}`);
  const docs = await db.document.findMany({
    where: { departureId: id },
    orderBy: { type: 'asc' },
    select: {
      type: true,
      status: true,
      sha256: true,
      contentType: true,
      issuedAt: true,
      completedAt: true,
      storageLocation: true,
      content: false,
    },
  });
  const stored = await db.document.findMany({
    where: { departureId: id, content: { not: null } },
    select: { type: true },
  });
  const downloadable = new Set(stored.map((d) => d.type));
  return {
    departureId: id,
    documents: docs.map((d) => ({
      ...d,
      downloadable: downloadable.has(d.type),
      href: downloadable.has(d.type) ? `/departures/${id}/documents/${d.type}` : null,
    })),
  };
}

/** One document to download: stored bytes, or (exit surveys answered before bytes were kept) JSON. */
export type DocumentFile =
  | { kind: 'json'; filename: string; body: unknown }
  | { kind: 'bytes'; filename: string; contentType: string; sha256: string | null; bytes: Buffer };

/** The stored document `type` of a departure; 404 for an unknown type, departure or missing bytes. */
export async function documentFile(db: Db, id: string, type: string): Promise<DocumentFile> {
  if (!(DOCUMENT_TYPES as readonly string[]).includes(type))
    throw new AppError('not_found', `no document type ${type}; one of ${DOCUMENT_TYPES.join(', ')}`);
  const dep = await db.departure.findUnique({ where: { id }, select: { id: true, employeeId: true } });
  if (!dep) throw new AppError('not_found', `no departure ${id}`);
  const doc = await db.document.findUnique({ where: { departureId_type: { departureId: id, type } } });
  // Exit surveys answered before the answers were stored as the content keep them in `meta` only.
  const meta = (doc?.meta ?? {}) as { answers?: unknown; answeredAt?: unknown };
  if (doc && !doc.content && type === 'exit_survey' && meta.answers)
    return {
      kind: 'json',
      filename: `${type}-${dep.employeeId}.json`,
      body: { answers: meta.answers, answeredAt: meta.answeredAt ?? null },
    };
  if (!doc?.content)
    throw new AppError(
      'not_found',
      type === 'exit_survey'
        ? `departure ${id}: the exit survey has not been answered (yet)`
        : `departure ${id} has no stored ${type.replace(/_/g, ' ')} (yet)`,
    );
  const ext = doc.contentType?.startsWith('application/pdf')
    ? 'pdf'
    : doc.contentType?.startsWith('application/json')
      ? 'json'
      : doc.contentType?.startsWith('text/plain')
        ? 'txt'
        : 'bin';
  return {
    kind: 'bytes',
    filename: `${type}-${dep.employeeId}.${ext}`,
    contentType: doc.contentType ?? 'application/octet-stream',
    sha256: doc.sha256,
    bytes: Buffer.from(doc.content),
  };
}
