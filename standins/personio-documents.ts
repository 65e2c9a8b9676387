/**
 * STAND-IN for Personio's documents (part of standins/personio.ts, which describes the whole):
 * - `GET /v1/company/document-categories` → `{success, data: [{id, type: "DocumentCategory", attributes}]}`;
 * - `POST /v1/company/documents` (multipart `file`, `title`, `employee_id`, `category_id`, optional
 *   `comment`, `date`; 30 MB and a 255-character title at most; 60 a minute, then 429) → 201
 *   `{success, data: {id, type: "Document", attributes: {title, date, comment, employee, category}}}`;
 *   404 for an unknown employee or category, 422 `{success: false, error: {message, error_data}}` for a
 *   missing or invalid field;
 * - `GET /v2/document-management/documents?owner_id&category_id&limit&cursor` (`owner_id` required,
 *   `limit` at most 100) → `{_data: [{id, name, date, comment, category: {id}, owner: {id},
 *   document_type, size, created_at}], _meta: {links: {self, next?}}}`, the next page by cursor link.
 */
import express, { type Request, type Response } from 'express';

export interface StoredDocument {
  id: number;
  title: string;
  categoryId: number;
  bytes: Buffer;
  createdAt: Date;
}

export const CATEGORIES = [
  { id: 1, name: 'Certificates of employment' },
  { id: 2, name: 'Other documents' },
  { id: 7, name: 'Offboarding' },
];

export interface DocumentsDeps {
  employee(id: number): { id: number; documents: StoredDocument[] } | undefined;
  nextId(): number;
  /** The stand-in's base URL (for cursor links). */
  url(): string;
  /** False when the upload limit (60 a minute) is reached. */
  uploadAllowed(): boolean;
}

const fail = (res: Response, status: number, message: string, extra: Record<string, unknown> = {}) =>
  res.status(status).json({ success: false, error: { code: 0, message, ...extra } });
const invalid = (res: Response, errors: Record<string, string[]>) =>
  fail(res, 422, 'The given data was invalid.', { error_data: errors });

export function personioDocuments(deps: DocumentsDeps): express.Router {
  const r = express.Router();

  r.get('/v1/company/document-categories', (_req, res) => {
    res.json({
      success: true,
      data: CATEGORIES.map((c) => ({ id: c.id, type: 'DocumentCategory', attributes: { name: c.name } })),
    });
  });

  r.post(
    '/v1/company/documents',
    express.raw({ type: 'multipart/form-data', limit: '31mb' }),
    async (req: Request, res: Response) => {
      if (!deps.uploadAllowed()) return fail(res, 429, 'Too Many Requests');
      const form = await new globalThis.Request('http://standin/', {
        method: 'POST',
        headers: { 'content-type': String(req.headers['content-type'] ?? '') },
        body: Buffer.isBuffer(req.body) ? new Uint8Array(req.body) : new Uint8Array(),
      })
        .formData()
        .catch(() => null);
      if (!form) return invalid(res, { file: ['The file field is required.'] });
      const missing = ['title', 'employee_id', 'category_id', 'file'].filter((k) => !form.get(k));
      if (missing.length)
        return invalid(res, Object.fromEntries(missing.map((k) => [k, [`The ${k} field is required.`]])));
      const file = form.get('file');
      const title = String(form.get('title'));
      if (!(file instanceof Blob)) return invalid(res, { file: ['The file must be a file.'] });
      if (file.size > 30 * 1024 * 1024)
        return invalid(res, { file: ['The file may not be greater than 30 MB.'] });
      if (title.length > 255)
        return invalid(res, { title: ['The title may not be greater than 255 characters.'] });
      const categoryId = String(form.get('category_id'));
      const category = CATEGORIES.find((c) => String(c.id) === categoryId);
      if (!category) return fail(res, 404, `No query results for model [DocumentCategory] ${categoryId}`);
      const employeeId = String(form.get('employee_id'));
      const e = deps.employee(Number(employeeId));
      if (!e || !/^\d+$/.test(employeeId))
        return fail(res, 404, `No query results for model [Employee] ${employeeId}`);
      const doc: StoredDocument = {
        id: deps.nextId(),
        title,
        categoryId: category.id,
        bytes: Buffer.from(await file.arrayBuffer()),
        createdAt: new Date(),
      };
      e.documents.push(doc);
      res.status(201).json({
        success: true,
        data: {
          id: doc.id,
          type: 'Document',
          attributes: {
            title,
            date: doc.createdAt.toISOString().slice(0, 10),
            comment: form.get('comment') ? String(form.get('comment')) : null,
            employee: {
              type: 'Employee',
              attributes: { id: { label: 'ID', value: e.id, type: 'integer', universal_id: 'id' } },
            },
            category: { id: category.id, type: 'DocumentCategory', attributes: { name: category.name } },
          },
        },
      });
    },
  );

  r.get('/v2/document-management/documents', (req, res) => {
    const q = req.query as Record<string, string | undefined>;
    let cursor: Record<string, string> = {};
    try {
      if (q.cursor) cursor = JSON.parse(Buffer.from(q.cursor, 'base64url').toString()) as typeof cursor;
    } catch {
      return res.status(400).json({ title: 'Invalid cursor', status: 400 });
    }
    const owner = q.owner_id ?? cursor.owner_id;
    const limit = Number(q.limit ?? cursor.limit ?? 50);
    if (!owner) return res.status(400).json({ title: 'owner_id is required', status: 400 });
    if (!Number.isInteger(limit) || limit < 1 || limit > 100)
      return res.status(400).json({ title: 'Invalid limit', status: 400 });
    const category = q.category_id ?? cursor.category_id;
    const docs = (deps.employee(Number(owner))?.documents ?? []).filter(
      (d) => !category || String(d.categoryId) === category,
    );
    const start = Number(cursor.start ?? 0);
    const more = start + limit < docs.length;
    const next = Buffer.from(
      JSON.stringify({
        owner_id: owner,
        category_id: category,
        limit: String(limit),
        start: String(start + limit),
      }),
    ).toString('base64url');
    res.json({
      _data: docs.slice(start, start + limit).map((d) => ({
        id: String(d.id),
        name: d.title,
        date: d.createdAt.toISOString().slice(0, 10),
        comment: null,
        category: { id: String(d.categoryId) },
        owner: { id: String(owner) },
        document_type: 'DOCUMENT',
        size: d.bytes.length,
        created_at: d.createdAt.toISOString(),
      })),
      _meta: {
        links: {
          self: { href: `${deps.url()}${req.originalUrl}` },
          ...(more
            ? { next: { href: `${deps.url()}/v2/document-management/documents?cursor=${next}` } }
            : {}),
        },
      },
    });
  });

  return r;
}
