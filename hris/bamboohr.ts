/**
 * BambooHR (docs/hris.md, HRIS.md): webhooks signed with the webhook's private key, HMAC-SHA256 over
 * the raw body followed by `X-BambooHR-Timestamp`, hex in `X-BambooHR-Signature`; the API with an API
 * key as HTTP Basic user name (password `x`); `employees/changed` for reconciliation; employee files for
 * the certificate. BambooHR documents no tolerance for the timestamp: Offboard refuses one further than
 * HRIS_WEBHOOK_TOLERANCE (default 5 minutes) from its clock.
 */
import { deliveryId, digestEquals, header, hmac } from './signature';
import { getJson, vendorFetch, VendorApiError } from './http';
import { terminationTypeOf } from './terms';
import type { HrisAdapter, Refusal, VendorDelivery, VendorEmployee, Verified } from './types';

export interface BambooHrConfig {
  /** The base before `v1/`, e.g. https://api.bamboohr.com/api/gateway.php/acme/ */
  apiUrl: string;
  apiKey: string;
  webhookKey: string;
  toleranceMs: number;
  remoteLocations: readonly string[];
  /** Employee-files section the certificate goes to; absent: no write-back. */
  fileCategory?: string;
}

/** What `GET /v1/employees/{id}` answers for the fields Offboard asks for. */
interface BambooEmployee {
  id: string;
  firstName?: string | null;
  lastName?: string | null;
  displayName?: string | null;
  workEmail?: string | null;
  homeEmail?: string | null;
  status?: string | null;
  terminationDate?: string | null;
  department?: string | null;
  location?: string | null;
  supervisorEId?: string | null;
}

/** A row of the `employmentStatus` table. */
interface EmploymentStatusRow {
  id: string;
  date: string;
  employmentStatus: string;
  terminationTypeId?: string | null;
}

export const EMPLOYEE_FIELDS = [
  'firstName',
  'lastName',
  'displayName',
  'workEmail',
  'homeEmail',
  'status',
  'terminationDate',
  'department',
  'location',
  'supervisorEId',
] as const;

/** BambooHR writes an empty date as 0000-00-00. */
const date = (d: string | null | undefined) =>
  d && /^\d{4}-\d{2}-\d{2}$/.test(d) && !d.startsWith('0000') ? d : null;
const orNull = (s: string | null | undefined) => (s && s.trim() ? s.trim() : null);

export function createBambooHr(cfg: BambooHrConfig): HrisAdapter {
  const base = cfg.apiUrl.endsWith('/') ? cfg.apiUrl : `${cfg.apiUrl}/`;
  const auth = { authorization: `Basic ${Buffer.from(`${cfg.apiKey}:x`).toString('base64')}` };
  const http = { vendor: 'BambooHR' };
  const url = (path: string) => new URL(path, base).toString();

  function verify(d: VendorDelivery, now: Date): Verified | Refusal {
    const ts = header(d.headers, 'x-bamboohr-timestamp');
    const sig = header(d.headers, 'x-bamboohr-signature');
    if (!ts || !sig)
      return {
        ok: false,
        signatureResult: 'missing',
        message: 'X-BambooHR-Timestamp and X-BambooHR-Signature headers are required',
      };
    if (!/^\d{1,12}$/.test(ts.trim()))
      return {
        ok: false,
        signatureResult: 'invalid',
        message: 'X-BambooHR-Timestamp must be a Unix time in seconds',
      };
    if (!digestEquals(hmac('sha256', cfg.webhookKey, [d.body, ts.trim()]), sig, 'hex'))
      return { ok: false, signatureResult: 'invalid', message: 'X-BambooHR-Signature does not match' };
    if (Math.abs(now.getTime() - Number(ts.trim()) * 1000) > cfg.toleranceMs)
      return {
        ok: false,
        signatureResult: 'stale',
        message: `X-BambooHR-Timestamp is outside the ${Math.round(cfg.toleranceMs / 1000)}-second tolerance`,
      };
    let body: unknown;
    try {
      body = JSON.parse(d.body.toString('utf8'));
    } catch {
      return {
        ok: false,
        signatureResult: 'valid',
        body: true,
        message: 'body is not valid JSON (configure the webhook with format json)',
      };
    }
    const ids = employeeIdsOf(body);
    if (!ids)
      return {
        ok: false,
        signatureResult: 'valid',
        body: true,
        message: 'body names no employee (expected {type, data: {employeeId}} or {employees: [{id}]})',
      };
    const type = (body as { type?: unknown }).type;
    return {
      ok: true,
      deliveryId: deliveryId('bamboohr', ts.trim(), sig.trim().toLowerCase()),
      type: typeof type === 'string' ? type.slice(0, 100) : 'employee_with_fields',
      employeeIds: ids,
    };
  }

  async function fetchEmployee(vendorId: string): Promise<VendorEmployee | null> {
    const q = `v1/employees/${encodeURIComponent(vendorId)}/?fields=${EMPLOYEE_FIELDS.join(',')}`;
    const e = await getJson<BambooEmployee>(url(q), auth, http);
    if (!e) return null;
    const rows =
      (await getJson<EmploymentStatusRow[]>(
        url(`v1/employees/${encodeURIComponent(vendorId)}/tables/employmentStatus`),
        auth,
        http,
      )) ?? [];
    const manager = orNull(e.supervisorEId)
      ? await getJson<BambooEmployee>(
          url(`v1/employees/${encodeURIComponent(e.supervisorEId!)}/?fields=workEmail`),
          auth,
          http,
        )
      : null;
    return toEmployee(e, rows, orNull(manager?.workEmail));
  }

  function toEmployee(
    e: BambooEmployee,
    rows: EmploymentStatusRow[],
    managerEmail: string | null,
  ): VendorEmployee {
    // The latest row decides (a future-dated termination is the latest row before it takes effect).
    const latest = [...rows].sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0)).at(-1);
    const terminatedRow = latest && /^terminated$/i.test(latest.employmentStatus) ? latest : null;
    const lastDay = date(e.terminationDate) ?? (terminatedRow ? date(terminatedRow.date) : null);
    const inactive = /^inactive$/i.test(e.status ?? '');
    const employment =
      terminatedRow || (inactive && lastDay) ? 'terminated' : inactive ? 'unclear' : 'active';
    const location = orNull(e.location);
    const name =
      orNull(e.displayName) ?? ([e.firstName, e.lastName].filter(Boolean).join(' ') || String(e.id));
    return {
      vendorId: String(e.id),
      id: String(e.id),
      name,
      workEmail: orNull(e.workEmail),
      personalEmail: orNull(e.homeEmail),
      managerEmail,
      department: orNull(e.department),
      location,
      employment,
      lastDay: employment === 'terminated' ? lastDay : null,
      terminationType:
        employment === 'terminated' ? terminationTypeOf(terminatedRow?.terminationTypeId) : null,
      status: e.status ?? '',
    };
  }

  return {
    vendor: 'bamboohr',
    title: 'BambooHR',
    verify,
    fetchEmployee,

    async changedSince(cursor, now) {
      // The first run looks back one day; BambooHR's `latest` is where the next one starts.
      const since = cursor ?? new Date(now.getTime() - 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
      const r = await getJson<{
        latest?: string;
        employees?: Record<string, { id: string; action: string }>;
      }>(url(`v1/employees/changed?since=${encodeURIComponent(since)}&type=all`), auth, http);
      if (!r)
        throw new VendorApiError('BambooHR', 404, 'employees/changed not found (check BAMBOOHR_API_URL)');
      return { ids: Object.keys(r.employees ?? {}), cursor: r.latest ?? since };
    },

    async roster() {
      // A custom report of everyone, current and former (onlyCurrent=false), with the same fields.
      const res = await vendorFetch(
        url('v1/reports/custom?format=JSON&onlyCurrent=false'),
        {
          method: 'POST',
          headers: { ...auth, accept: 'application/json', 'content-type': 'application/json' },
          body: JSON.stringify({ title: 'Offboard reconciliation', fields: ['id', ...EMPLOYEE_FIELDS] }),
        },
        http,
      );
      const r = (await res.json()) as { employees?: BambooEmployee[] };
      return (r.employees ?? []).map((e) => toEmployee(e, [], null));
    },

    files: cfg.fileCategory
      ? {
          async upload(vendorId, file) {
            const form = new FormData();
            form.set('file', new Blob([new Uint8Array(file.bytes)], { type: 'application/pdf' }), file.name);
            form.set('fileName', file.name);
            form.set('category', cfg.fileCategory!);
            form.set('share', 'no');
            const res = await vendorFetch(
              url(`v1/employees/${encodeURIComponent(vendorId)}/files`),
              { method: 'POST', headers: auth, body: form },
              http,
            );
            if (res.status !== 201) throw new VendorApiError('BambooHR', res.status, await res.text());
            await res.body?.cancel();
            const id = /\/files\/([^/?]+)\/?$/.exec(res.headers.get('location') ?? '')?.[1] ?? '';
            return { id, name: file.name };
          },
          async list(vendorId) {
            const r = await getJson<{
              categories?: { id: string | number; files?: { id: string | number; name: string }[] }[];
            }>(url(`v1/employees/${encodeURIComponent(vendorId)}/files/view`), auth, http);
            return (r?.categories ?? [])
              .filter((c) => String(c.id) === cfg.fileCategory)
              .flatMap((c) => (c.files ?? []).map((f) => ({ id: String(f.id), name: f.name })));
          },
        }
      : undefined,
  };
}

/** The employee ids a delivery names: `{data: {employeeId}}` (employee.*) or `{employees: [{id}]}`. */
function employeeIdsOf(body: unknown): string[] | null {
  if (!body || typeof body !== 'object') return null;
  const b = body as { data?: { employeeId?: unknown }; employees?: unknown };
  const one = b.data?.employeeId;
  const ids =
    typeof one === 'string' || typeof one === 'number'
      ? [String(one)]
      : Array.isArray(b.employees)
        ? b.employees.map((e: { id?: unknown }) =>
            e && (typeof e.id === 'string' || typeof e.id === 'number') ? String(e.id) : '',
          )
        : [];
  const valid = ids.filter((id) => /^[A-Za-z0-9._-]{1,64}$/.test(id));
  return valid.length > 0 && valid.length === ids.length && valid.length <= 100 ? [...new Set(valid)] : null;
}
