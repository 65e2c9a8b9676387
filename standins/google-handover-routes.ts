/**
 * STAND-IN routes of the Google Workspace handover: the Data Transfer API (`transfers` insert, get and
 * list; owners by immutable user id; Drive's PRIVACY_LEVEL defaults to SHARED only; the transfer shows
 * `inProgress` for `transferReadsToComplete` reads, then `completed`, moving the files and events) and
 * Gmail settings (delegates, forwarding addresses, auto-forwarding) as Google documents them: a delegate
 * must be a primary email of the same organization and is set straight to `accepted`; a forwarding
 * address in the domain is `accepted`, elsewhere `pending`; auto-forwarding needs an accepted address.
 * For a suspended mailbox every Gmail call is 400 `failedPrecondition` (users report Gmail calls fail
 * after suspension; the exact answer is not documented: U).
 */
import { randomBytes } from 'node:crypto';
import type express from 'express';
import type { Request, Response } from 'express';
import type { GoogleStandIn, GoogleStandInUser } from './google';
import { googleError } from './google-oauth';

export const DRIVE_APP = '55656082996';
export const CALENDAR_APP = '435070579839';
const APP_NAMES: Record<string, string> = { [DRIVE_APP]: 'Drive and Docs', [CALENDAR_APP]: 'Calendar' };

interface AppTransfer {
  applicationId: string;
  applicationTransferParams: { key: string; value: string[] }[];
  applicationTransferStatus: string;
}
export interface StandInTransfer {
  kind: 'admin#datatransfer#DataTransfer';
  id: string;
  oldOwnerUserId: string;
  newOwnerUserId: string;
  applicationDataTransfers: AppTransfer[];
  overallTransferStatusCode: string;
  requestTime: string;
  reads: number;
}

export function mountHandoverRoutes(app: express.Express, g: GoogleStandIn): void {
  const transfers = g.transfers;
  const T = '/admin/datatransfer/v1/transfers';
  const bad = (res: Response, message: string, reason = 'invalid') =>
    res.status(400).json(googleError(400, message, reason));
  const json = (t: StandInTransfer) => ({ ...t, reads: undefined });

  /** Moves what the transfer covers from the old owner to the new one. */
  function complete(t: StandInTransfer) {
    const from = g.users.get(t.oldOwnerUserId)!;
    const to = g.users.get(t.newOwnerUserId)!;
    for (const a of t.applicationDataTransfers) {
      if (a.applicationId === DRIVE_APP) {
        const levels = a.applicationTransferParams.find((p) => p.key === 'PRIVACY_LEVEL')?.value ?? [
          'SHARED',
        ];
        for (const l of ['private', 'shared'] as const)
          if (levels.includes(l.toUpperCase())) {
            to.drive[l] += from.drive[l];
            from.drive[l] = 0;
          }
      } else {
        to.calendarEvents += from.calendarEvents;
        from.calendarEvents = 0;
      }
      a.applicationTransferStatus = 'completed';
    }
    t.overallTransferStatusCode = 'completed';
  }

  app.post(T, (req, res) => {
    const b = (req.body ?? {}) as Partial<StandInTransfer>;
    // Owners are immutable user ids: an email is refused.
    const from = g.users.get(String(b.oldOwnerUserId));
    const to = g.users.get(String(b.newOwnerUserId));
    if (!from || !to) return bad(res, 'Invalid Input: user id', 'invalid');
    const apps = b.applicationDataTransfers ?? [];
    if (apps.length === 0 || apps.some((a) => !APP_NAMES[String(a.applicationId)]))
      return bad(res, 'Invalid Input: applicationId');
    const t: StandInTransfer = {
      kind: 'admin#datatransfer#DataTransfer',
      id: `AKrEtIb${randomBytes(10).toString('base64url')}`,
      oldOwnerUserId: from.id,
      newOwnerUserId: to.id,
      applicationDataTransfers: apps.map((a) => ({
        applicationId: String(a.applicationId),
        applicationTransferParams: a.applicationTransferParams ?? [],
        applicationTransferStatus: 'pending',
      })),
      overallTransferStatusCode: 'inProgress',
      requestTime: new Date().toISOString(),
      reads: 0,
    };
    transfers.set(t.id, t);
    res.json(json(t));
  });
  app.get(`${T}/:id`, (req, res) => {
    const t = transfers.get(String(req.params['id']));
    if (!t) return res.status(404).json(googleError(404, 'Resource Not Found: dataTransferId', 'notFound'));
    if (t.overallTransferStatusCode !== 'completed' && t.reads++ >= g.transferReadsToComplete) complete(t);
    res.json(json(t));
  });
  app.get(T, (req, res) => {
    const q = req.query;
    const list = [...transfers.values()].filter(
      (t) =>
        (!q['oldOwnerUserId'] || t.oldOwnerUserId === q['oldOwnerUserId']) &&
        (!q['newOwnerUserId'] || t.newOwnerUserId === q['newOwnerUserId']) &&
        (!q['status'] || t.overallTransferStatusCode === q['status']),
    );
    res.json({
      kind: 'admin#datatransfer#dataTransfersList',
      ...(list.length ? { dataTransfers: list.map(json) } : {}),
    });
  });

  // ---- Gmail settings, acting as the mailbox owner (checked by the stand-in's guard).
  const G = '/gmail/v1/users/:u/settings';
  const mailbox =
    (h: (u: GoogleStandInUser, req: Request, res: Response) => void) => (req: Request, res: Response) => {
      const u = g.user(decodeURIComponent(String(req.params['u'])));
      if (!u) return res.status(404).json(googleError(404, 'Requested entity was not found.', 'notFound'));
      if (u.suspended) return bad(res, 'Mail service not enabled', 'failedPrecondition');
      h(u, req, res);
    };
  const notFound = (res: Response) =>
    res.status(404).json(googleError(404, 'Requested entity was not found.', 'notFound'));
  const inDomain = (email: string) => email.toLowerCase().endsWith(`@${g.domain}`);

  app.get(
    `${G}/delegates`,
    mailbox((u, _q, res) => {
      const ds = [...u.delegates].map(([delegateEmail, verificationStatus]) => ({
        delegateEmail,
        verificationStatus,
      }));
      res.json(ds.length ? { delegates: ds } : {});
    }),
  );
  app.get(
    `${G}/delegates/:email`,
    mailbox((u, req, res) => {
      const e = String(req.params['email']).toLowerCase();
      const status = u.delegates.get(e);
      if (!status) return notFound(res);
      res.json({ delegateEmail: e, verificationStatus: status });
    }),
  );
  app.post(
    `${G}/delegates`,
    mailbox((u, req, res) => {
      const e = String(
        (req.body as { delegateEmail?: unknown } | undefined)?.delegateEmail ?? '',
      ).toLowerCase();
      const d = g.user(e);
      // Same organization, by primary email (not an alias).
      if (!d || d.primaryEmail.toLowerCase() !== e) return bad(res, 'Invalid delegate', 'invalidArgument');
      if (u.delegates.has(e))
        return res.status(409).json(googleError(409, 'Delegate already exists', 'alreadyExists'));
      u.delegates.set(e, 'accepted');
      res.json({ delegateEmail: e, verificationStatus: 'accepted' });
    }),
  );
  app.get(
    `${G}/forwardingAddresses/:email`,
    mailbox((u, req, res) => {
      const e = String(req.params['email']).toLowerCase();
      const status = u.forwardingAddresses.get(e);
      if (!status) return notFound(res);
      res.json({ forwardingEmail: e, verificationStatus: status });
    }),
  );
  app.post(
    `${G}/forwardingAddresses`,
    mailbox((u, req, res) => {
      const e = String(
        (req.body as { forwardingEmail?: unknown } | undefined)?.forwardingEmail ?? '',
      ).toLowerCase();
      if (!e.includes('@')) return bad(res, 'Invalid forwarding address', 'invalidArgument');
      const status = inDomain(e) ? 'accepted' : 'pending';
      u.forwardingAddresses.set(e, status);
      res.json({ forwardingEmail: e, verificationStatus: status });
    }),
  );
  app.get(
    `${G}/autoForwarding`,
    mailbox((u, _q, res) => res.json(u.autoForwarding)),
  );
  app.put(
    `${G}/autoForwarding`,
    mailbox((u, req, res) => {
      const b = (req.body ?? {}) as { enabled?: boolean; emailAddress?: string; disposition?: string };
      const e = (b.emailAddress ?? '').toLowerCase();
      if (b.enabled && u.forwardingAddresses.get(e) !== 'accepted')
        return bad(res, 'Unverified forwarding address', 'failedPrecondition');
      u.autoForwarding = b.enabled
        ? { enabled: true, emailAddress: e, disposition: b.disposition ?? 'leaveInInbox' }
        : { enabled: false };
      res.json(u.autoForwarding);
    }),
  );
}
