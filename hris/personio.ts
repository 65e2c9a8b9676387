/**
 * Personio (docs/hris.md, HRIS.md): webhooks (API v2, "dataless": ids only) signed with HMAC-SHA256 over
 * the request timestamp and the raw body, keyed with the webhook's secret; the employee read from the v1
 * Personnel Data API (`GET /v1/company/employees/{id}`, attribute objects `{label, value, type}`);
 * reconciliation through `GET /v1/company/employees?updated_since=…` (pages of at most 100, `offset`
 * and `limit`); the certificate uploaded with `POST /v1/company/documents` and listed back with
 * `GET /v2/document-management/documents?owner_id=…` (v1 has no list). One token for all of it
 * (personio-api.ts).
 *
 * What Personio's documentation does not say (docs/hris.md lists it): the names of the signature and
 * timestamp headers (configurable: PERSONIO_WEBHOOK_SIGNATURE_HEADER, PERSONIO_WEBHOOK_TIMESTAMP_HEADER),
 * how timestamp and body are joined (`<timestamp>.<raw body>` here) and the shape of an event's
 * `payload` (the person is looked for in `payload.person.id`, `payload.person_id`, `payload.employee_id`,
 * and `payload.id` of `person.*` events).
 */
import { timingSafeEqual } from 'node:crypto';
import { VendorApiError } from './http';
import { createPersonioApi } from './personio-api';
import { deliveryId, digestEquals, header, hmac } from './signature';
import { isoDate, terminationTypeOf } from './terms';
import type { HrisAdapter, Refusal, VendorDelivery, VendorEmployee, Verified } from './types';

export interface PersonioConfig {
  /** The API base before `v1/` and `v2/`, e.g. https://api.personio.de/ */
  apiUrl: string;
  clientId: string;
  clientSecret: string;
  webhookSecret: string;
  signatureHeader: string;
  timestampHeader: string;
  /** When set, the webhook's `Authorization` header must be exactly this (Personio's `auth_type: TOKEN`). */
  webhookToken?: string;
  toleranceMs: number;
  /** The custom attribute (`dynamic_<id>`) that holds the private email; absent: none is read. */
  personalEmailAttribute?: string;
  /** The document category (id) the certificate is uploaded to; absent: no write-back. */
  documentCategory?: string;
}

/** An attribute as the v1 API answers it. */
interface Attr {
  label?: string;
  value?: unknown;
}
type Attributes = Record<string, Attr | undefined>;
interface V1Employee {
  type?: string;
  attributes?: Attributes;
}
interface V1Page {
  data?: V1Employee[];
  metadata?: { total_elements?: number; current_page?: number; total_pages?: number };
}

const ID = /^[A-Za-z0-9._-]{1,64}$/;
/** Employees read by the reconciliation's listing are reused by the reads that follow it, once. */
const LISTED_FOR_MS = 60_000;
const PAGE = 100;
const MAX_PAGES = 2_000;
/** How far before the cursor the changed-since listing starts (Personio does not say which zone it reads). */
const LISTING_OVERLAP_MS = 86_400_000;

const text = (a: Attr | undefined) =>
  typeof a?.value === 'string' && a.value.trim()
    ? a.value.trim()
    : typeof a?.value === 'number'
      ? String(a.value)
      : null;
/** `{value: {type, attributes: {name}}}` (department, office). */
const named = (a: Attr | undefined) => {
  const n = (a?.value as { attributes?: { name?: unknown } } | null)?.attributes?.name;
  return typeof n === 'string' && n.trim() ? n.trim() : null;
};
/** `{value: {type: "Employee", attributes: {id: {value}, email?: {value}}}}` (supervisor). */
const nested = (a: Attr | undefined, key: string) =>
  text((a?.value as { attributes?: Attributes } | null)?.attributes?.[key]);

export function createPersonio(cfg: PersonioConfig): HrisAdapter {
  const api = createPersonioApi(cfg);
  const listed = new Map<string, { at: number; attributes: Attributes }>();

  function verify(d: VendorDelivery, now: Date): Verified | Refusal {
    if (cfg.webhookToken !== undefined) {
      const given = Buffer.from(header(d.headers, 'authorization') ?? '');
      const expected = Buffer.from(cfg.webhookToken);
      if (given.length === 0)
        return {
          ok: false,
          signatureResult: 'missing',
          message: 'the Authorization header (PERSONIO_WEBHOOK_TOKEN) is required',
        };
      if (given.length !== expected.length || !timingSafeEqual(given, expected))
        return {
          ok: false,
          signatureResult: 'invalid',
          message: 'the Authorization header does not match PERSONIO_WEBHOOK_TOKEN',
        };
    }
    const ts = header(d.headers, cfg.timestampHeader)?.trim();
    const sig = header(d.headers, cfg.signatureHeader)?.trim();
    if (!ts || !sig)
      return {
        ok: false,
        signatureResult: 'missing',
        message: `the ${cfg.timestampHeader} and ${cfg.signatureHeader} headers are required`,
      };
    const at = instant(ts);
    if (at === null)
      return {
        ok: false,
        signatureResult: 'invalid',
        message: `${cfg.timestampHeader} must be a Unix time (seconds or milliseconds) or an ISO 8601 instant`,
      };
    const expected = hmac('sha256', cfg.webhookSecret, [ts, '.', d.body]);
    // Entries separated by spaces or commas (a rotated secret), each maybe prefixed `sha256=`, `v1=` or `v1,`.
    const candidates = sig
      .split(/[\s,]+/)
      .map((s) => s.replace(/^(sha256|v1)=/i, ''))
      .filter((s) => s && s !== 'v1')
      .slice(0, 5);
    const matches = candidates.some((c) =>
      /^[0-9a-f]{64}$/i.test(c) ? digestEquals(expected, c, 'hex') : digestEquals(expected, c, 'base64'),
    );
    if (!matches)
      return { ok: false, signatureResult: 'invalid', message: `${cfg.signatureHeader} does not match` };
    if (Math.abs(now.getTime() - at) > cfg.toleranceMs)
      return {
        ok: false,
        signatureResult: 'stale',
        message: `${cfg.timestampHeader} is outside the ${Math.round(cfg.toleranceMs / 1000)}-second tolerance`,
      };
    let body: { event_name?: unknown; payload?: unknown };
    try {
      body = JSON.parse(d.body.toString('utf8')) as typeof body;
    } catch {
      return { ok: false, signatureResult: 'valid', body: true, message: 'body is not valid JSON' };
    }
    if (!body || typeof body.event_name !== 'string' || !body.payload || typeof body.payload !== 'object')
      return {
        ok: false,
        signatureResult: 'valid',
        body: true,
        message:
          'body is not a Personio webhook event (expected {company_id, event_name, occurred_at, payload})',
      };
    const type = body.event_name.slice(0, 100);
    const id = deliveryId('personio', ts, sig);
    // Absences, attendances and the like name no departure: answered 200 with nothing to do.
    if (!/^(person|employment)\./.test(type)) return { ok: true, deliveryId: id, type, employeeIds: [] };
    const person = personIdOf(type, body.payload as Record<string, unknown>);
    if (!person)
      return {
        ok: false,
        signatureResult: 'valid',
        body: true,
        message:
          'payload names no person (expected payload.person.id, payload.person_id or payload.employee_id)',
      };
    return { ok: true, deliveryId: id, type, employeeIds: [person] };
  }

  async function read(vendorId: string): Promise<Attributes | null> {
    const hit = listed.get(vendorId);
    listed.delete(vendorId);
    if (hit && Date.now() - hit.at < LISTED_FOR_MS) return hit.attributes;
    const r = await api.get<{ data?: V1Employee }>(`v1/company/employees/${encodeURIComponent(vendorId)}`);
    return r?.data?.attributes ?? null;
  }

  async function managerEmail(a: Attributes): Promise<string | null> {
    const own = nested(a.supervisor, 'email');
    const id = nested(a.supervisor, 'id');
    if (own || !id || !ID.test(id)) return own;
    return text((await read(id))?.email);
  }

  function toEmployee(a: Attributes, manager: string | null): VendorEmployee {
    const id = text(a.id) ?? '';
    const terminationDate = isoDate(text(a.termination_date));
    const lastDay = isoDate(text(a.last_working_day)) ?? terminationDate;
    const status = text(a.status) ?? '';
    // A termination date (or last day of work) makes a termination; inactive without one is for HR to fix.
    const employment = lastDay ? 'terminated' : /^inactive$/i.test(status) ? 'unclear' : 'active';
    const name =
      text(a.preferred_name) ?? ([text(a.first_name), text(a.last_name)].filter(Boolean).join(' ') || id);
    return {
      vendorId: id,
      id,
      name,
      workEmail: text(a.email),
      personalEmail: cfg.personalEmailAttribute ? text(a[cfg.personalEmailAttribute]) : null,
      managerEmail: manager,
      department: named(a.department),
      location: named(a.office),
      employment,
      lastDay: employment === 'terminated' ? lastDay : null,
      terminationType: employment === 'terminated' ? terminationTypeOf(text(a.termination_type)) : null,
      status,
    };
  }

  /** Every page of `GET /v1/company/employees` (at most 100 each, `offset` counting employees). */
  async function listAll(query: string): Promise<Attributes[]> {
    const out: Attributes[] = [];
    for (let page = 0; page < MAX_PAGES; page++) {
      const r = await api.get<V1Page>(`v1/company/employees?${query}limit=${PAGE}&offset=${page * PAGE}`);
      if (!r)
        throw new VendorApiError('Personio', 404, 'company/employees not found (check PERSONIO_API_URL)');
      const data = (r.data ?? []).map((e) => e.attributes ?? {});
      out.push(...data);
      const m = r.metadata;
      const last =
        m?.total_pages !== undefined ? (m.current_page ?? page) >= m.total_pages - 1 : data.length < PAGE;
      if (last || data.length === 0) return out;
    }
    throw new VendorApiError('Personio', 500, `company/employees has more than ${MAX_PAGES} pages`);
  }

  return {
    vendor: 'personio',
    title: 'Personio',
    verify,

    async fetchEmployee(vendorId) {
      if (!ID.test(vendorId)) return null;
      const a = await read(vendorId);
      return a && text(a.id) ? toEmployee(a, await managerEmail(a)) : null;
    },

    async changedSince(cursor, now) {
      // Personio's own clock decides what is new: the cursor is the latest `last_modified_at` seen (and
      // the ids stamped with it, since it has whole seconds). Personio does not say in which zone it reads
      // `updated_since` (it takes no offset), so the listing starts a day before the cursor and
      // `last_modified_at`, which carries its offset, filters. The first run looks back one day.
      listed.clear();
      const last = readCursor(cursor) ?? { at: now.getTime() - 86_400_000, ids: [] };
      const since = new Date(last.at - LISTING_OVERLAP_MS).toISOString().slice(0, 19);
      const people = await listAll(`updated_since=${encodeURIComponent(since)}&`);
      const next = { at: last.at, ids: [...last.ids] };
      const ids = new Set<string>();
      for (const a of people) {
        const id = text(a.id);
        if (!id || !ID.test(id) || ids.has(id)) continue;
        const modified = Date.parse(text(a.last_modified_at) ?? '');
        // Without last_modified_at (not among the credentials' attributes) every listed employee is read.
        if (!Number.isNaN(modified)) {
          if (modified < last.at || (modified === last.at && last.ids.includes(id))) continue;
          if (modified > next.at) Object.assign(next, { at: modified, ids: [] });
          if (modified === next.at) next.ids.push(id);
        }
        listed.set(id, { at: Date.now(), attributes: a });
        ids.add(id);
      }
      return {
        ids: [...ids],
        cursor: JSON.stringify({ at: new Date(next.at).toISOString(), ids: next.ids }),
      };
    },

    async roster() {
      return (await listAll('')).filter((a) => text(a.id)).map((a) => toEmployee(a, null));
    },

    files: cfg.documentCategory
      ? {
          async upload(vendorId, file) {
            const res = await api.postForm('v1/company/documents', () => {
              const form = new FormData();
              form.set('title', file.name);
              form.set('employee_id', vendorId);
              form.set('category_id', cfg.documentCategory!);
              form.set('comment', 'Uploaded by Offboard');
              form.set(
                'file',
                new Blob([new Uint8Array(file.bytes)], { type: 'application/pdf' }),
                file.name,
              );
              return form;
            });
            const body = (await res.json().catch(() => null)) as {
              data?: { id?: unknown };
              error?: { message?: unknown };
            } | null;
            if (res.status !== 201 || body?.data?.id === undefined) {
              // Personio's own error message only: a success body names the employee.
              const why =
                typeof body?.error?.message === 'string' ? `: ${body.error.message.slice(0, 200)}` : '';
              throw new VendorApiError('Personio', res.status, `document upload not accepted${why}`);
            }
            return { id: String(body.data.id), name: file.name };
          },
          async list(vendorId) {
            const out: { id: string; name: string }[] = [];
            let next: string | undefined =
              `v2/document-management/documents?owner_id=${encodeURIComponent(vendorId)}` +
              `&category_id=${encodeURIComponent(cfg.documentCategory!)}&limit=100`;
            for (let page = 0; next && page < MAX_PAGES; page++) {
              const r: DocumentPage | null = await api.get<DocumentPage>(next);
              for (const doc of r?._data ?? [])
                out.push({ id: String(doc.id), name: String(doc.name ?? '') });
              next = r?._meta?.links?.next?.href;
            }
            return out;
          },
        }
      : undefined,
  };
}

interface DocumentPage {
  _data?: { id: string | number; name?: string }[];
  _meta?: { links?: { next?: { href?: string } } };
}

/** The reconciliation's cursor: the latest `last_modified_at` seen and the ids stamped with it. */
function readCursor(cursor: string | null): { at: number; ids: string[] } | null {
  if (!cursor) return null;
  try {
    const c = JSON.parse(cursor) as { at?: unknown; ids?: unknown };
    const at = typeof c.at === 'string' ? Date.parse(c.at) : NaN;
    if (Number.isNaN(at) || !Array.isArray(c.ids)) return null;
    return { at, ids: c.ids.filter((i): i is string => typeof i === 'string') };
  } catch {
    return null;
  }
}

/** Milliseconds of a timestamp header: Unix seconds, Unix milliseconds or an ISO 8601 instant. */
function instant(ts: string): number | null {
  if (/^\d{1,13}$/.test(ts)) return ts.length > 11 ? Number(ts) : Number(ts) * 1000;
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(ts)) return null;
  const t = Date.parse(ts);
  return Number.isNaN(t) ? null : t;
}

/** The person an event names (Personio's payloads are "dataless": ids only). */
function personIdOf(type: string, p: Record<string, unknown>): string | null {
  const person = p.person as { id?: unknown } | undefined;
  const candidates = [person?.id, p.person_id, p.employee_id, type.startsWith('person.') ? p.id : undefined];
  const found = candidates.find((c) => typeof c === 'string' || typeof c === 'number');
  return found !== undefined && ID.test(String(found)) ? String(found) : null;
}
