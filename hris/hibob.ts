/**
 * HiBob (docs/hris.md, HRIS.md): webhooks v2 signed with `Bob-Signature` = Base64(HMAC-SHA512(secret,
 * raw body)), no timestamp (the signed `triggeredAt` in the body is checked instead, against
 * HIBOB_WEBHOOK_MAX_AGE); the API with a service user over HTTP Basic; `POST /v1/people/search` (all
 * matches, no pagination, 50 requests a minute) both to read one employee and, diffed against the last
 * run's digests, to reconcile: HiBob has no changed-since list, and deleting a lifecycle entry (a
 * rescinded termination) sends no webhook.
 */
import { createHash } from 'node:crypto';
import { isoDate, terminationTypeOf } from './terms';
import { deliveryId, digestEquals, header, hmac } from './signature';
import { vendorFetch } from './http';
import type { HrisAdapter, Refusal, VendorDelivery, VendorEmployee, Verified } from './types';

export interface HiBobConfig {
  apiUrl: string;
  serviceUserId: string;
  token: string;
  webhookSecret: string;
  /** Oldest signed `triggeredAt` accepted. */
  maxAgeMs: number;
  /** How far ahead of this clock a `triggeredAt` may be. */
  toleranceMs: number;
}

/** An employee as people search answers (root fields at the top, the others by category). */
interface BobPerson {
  id: string;
  firstName?: string;
  surname?: string;
  displayName?: string;
  email?: string | null;
  home?: { privateEmail?: string | null };
  work?: { department?: string | null; site?: string | null; reportsTo?: { email?: string | null } | null };
  internal?: {
    status?: string | null;
    lifecycleStatus?: string | null;
    terminationDate?: string | null;
    terminationType?: string | null;
  };
}

export const BOB_FIELDS = [
  'root.id',
  'root.firstName',
  'root.surname',
  'root.displayName',
  'root.email',
  'home.privateEmail',
  'work.department',
  'work.site',
  'work.reportsTo',
  'internal.status',
  'internal.lifecycleStatus',
  'internal.terminationDate',
  'internal.terminationType',
];

/** Employees with a termination this recent (or later) are picked up by the first reconciliation. */
const FIRST_RUN_LOOKBACK_MS = 30 * 86_400_000;

export function createHiBob(cfg: HiBobConfig): HrisAdapter {
  const base = cfg.apiUrl.endsWith('/') ? cfg.apiUrl : `${cfg.apiUrl}/`;
  const auth = {
    authorization: `Basic ${Buffer.from(`${cfg.serviceUserId}:${cfg.token}`).toString('base64')}`,
  };
  const http = { vendor: 'HiBob' };
  /** The last full search, reused for the employees of the same reconciliation run (rate limit). */
  let cache: { at: number; people: Map<string, BobPerson> } | null = null;

  async function search(ids?: string[]): Promise<BobPerson[]> {
    const res = await vendorFetch(
      new URL('v1/people/search', base).toString(),
      {
        method: 'POST',
        headers: { ...auth, accept: 'application/json', 'content-type': 'application/json' },
        body: JSON.stringify({
          fields: BOB_FIELDS,
          filters: ids ? [{ fieldPath: 'root.id', operator: 'equals', values: ids }] : [],
          showInactive: true,
          humanReadable: 'REPLACE',
        }),
      },
      http,
    );
    return ((await res.json()) as { employees?: BobPerson[] }).employees ?? [];
  }

  function toEmployee(p: BobPerson): VendorEmployee {
    const i = p.internal ?? {};
    const lastDay = isoDate(i.terminationDate);
    // A termination date makes a termination; inactive or "terminated" without one is for HR to fix.
    const unclear = /^inactive$/i.test(i.status ?? '') || /terminated/i.test(i.lifecycleStatus ?? '');
    const employment = lastDay ? 'terminated' : unclear ? 'unclear' : 'active';
    return {
      vendorId: p.id,
      id: p.id,
      name: p.displayName?.trim() || [p.firstName, p.surname].filter(Boolean).join(' ') || p.id,
      workEmail: p.email ?? null,
      personalEmail: p.home?.privateEmail ?? null,
      managerEmail: p.work?.reportsTo?.email ?? null,
      department: p.work?.department ?? null,
      location: p.work?.site ?? null,
      employment,
      lastDay,
      terminationType: employment === 'terminated' ? terminationTypeOf(i.terminationType) : null,
      status: i.status ?? '',
    };
  }

  const digest = (e: VendorEmployee) =>
    createHash('sha256').update(JSON.stringify(e)).digest('hex').slice(0, 16);

  function verify(d: VendorDelivery, now: Date): Verified | Refusal {
    const sig = header(d.headers, 'bob-signature');
    if (!sig)
      return { ok: false, signatureResult: 'missing', message: 'the Bob-Signature header is required' };
    if (!digestEquals(hmac('sha512', cfg.webhookSecret, [d.body]), sig, 'base64'))
      return { ok: false, signatureResult: 'invalid', message: 'Bob-Signature does not match' };
    let body: { type?: unknown; triggeredAt?: unknown; data?: { employeeId?: unknown } };
    try {
      body = JSON.parse(d.body.toString('utf8')) as typeof body;
    } catch {
      return { ok: false, signatureResult: 'valid', body: true, message: 'body is not valid JSON' };
    }
    const at = typeof body.triggeredAt === 'string' ? Date.parse(body.triggeredAt) : NaN;
    if (Number.isNaN(at))
      return {
        ok: false,
        signatureResult: 'valid',
        body: true,
        message: 'body has no triggeredAt (expected a webhooks v2 event)',
      };
    if (now.getTime() - at > cfg.maxAgeMs || at - now.getTime() > cfg.toleranceMs)
      return {
        ok: false,
        signatureResult: 'stale',
        message: `triggeredAt ${body.triggeredAt as string} is outside the accepted window (HIBOB_WEBHOOK_MAX_AGE)`,
      };
    const type = typeof body.type === 'string' ? body.type.slice(0, 100) : '';
    const id = body.data?.employeeId;
    const employeeIds = typeof id === 'string' || typeof id === 'number' ? [String(id)] : [];
    // Bob's "Ping test" at set-up names no employee: answered 200 with nothing to do.
    if (employeeIds.length === 0 && !/ping|test/i.test(type))
      return {
        ok: false,
        signatureResult: 'valid',
        body: true,
        message: 'body names no employee (data.employeeId)',
      };
    if (!employeeIds.every((e) => /^[A-Za-z0-9._-]{1,64}$/.test(e)))
      return {
        ok: false,
        signatureResult: 'valid',
        body: true,
        message: 'data.employeeId is not an employee id',
      };
    return { ok: true, deliveryId: deliveryId('hibob', sig.trim()), type, employeeIds };
  }

  return {
    vendor: 'hibob',
    title: 'HiBob',
    verify,

    async fetchEmployee(vendorId) {
      const fresh = cache && Date.now() - cache.at < 60_000 ? cache.people.get(vendorId) : undefined;
      const p = fresh ?? (await search([vendorId]))[0];
      return p ? toEmployee(p) : null;
    },

    async changedSince(cursor, now) {
      const people = await search();
      cache = { at: Date.now(), people: new Map(people.map((p) => [p.id, p])) };
      const before = cursor ? (JSON.parse(cursor) as Record<string, string>) : null;
      const digests: Record<string, string> = {};
      const ids: string[] = [];
      for (const p of people) {
        const e = toEmployee(p);
        digests[p.id] = digest(e);
        if (before ? before[p.id] !== digests[p.id] : recentTermination(e, now)) ids.push(p.id);
      }
      // A person no longer listed at all was deleted: read again (found missing, logged).
      if (before) for (const id of Object.keys(before)) if (!(id in digests)) ids.push(id);
      return { ids, cursor: JSON.stringify(digests) };
    },

    async roster() {
      return (await search()).map(toEmployee);
    },
  };
}

/** First run: only terminations from the last 30 days or later (not everyone who ever left). */
function recentTermination(e: VendorEmployee, now: Date): boolean {
  return (
    e.employment === 'terminated' &&
    !!e.lastDay &&
    Date.parse(e.lastDay) >= now.getTime() - FIRST_RUN_LOOKBACK_MS
  );
}
