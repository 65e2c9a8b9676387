/**
 * The data handover of a Google Workspace leaver to their manager, done before suspension (Gmail calls
 * and delegation fail for a suspended user; the order is not documented by Google, users report it):
 *
 * - mail, by the catalog's `mailHandover`: `delegate` (`POST …/settings/delegates` with the manager's
 *   primary email, set straight to `accepted`; read back with `GET …/delegates/<email>`), or `forward`
 *   (the manager as a forwarding address, accepted without verification inside the domain, then `PUT
 *   …/settings/autoForwarding`; read back with `GET`), or `none`;
 * - Drive (both privacy levels, PRIVATE and SHARED: the default is SHARED only) and Calendar through one
 *   Data Transfer API request (`POST /admin/datatransfer/v1/transfers`, owners by immutable id), read
 *   back until `overallTransferStatusCode` is `completed`; still running after `transferWait`, the step is
 *   retried (`ConfirmationMismatchError`) and the retry finds the same request instead of making another.
 *
 * No manager, a manager Google does not know or who is suspended: `TargetRejectedError` (red, a person
 * records the manager and re-drives), and nothing is suspended. The evidence (`HandoverEvidence`) goes
 * into the step's confirmation for the data-archiving confirmation.
 */
import type { GoogleConnectorConfig } from '../config/catalog';
import { durationMs } from '../config/env';
import type { Subject } from './connector';
import { ConfirmationMismatchError, TargetRejectedError } from './errors';
import type { GoogleApi } from './google-api';

/** Data Transfer application ids (the same for every customer; `GET …/applications` lists them). */
export const TRANSFER_APPS = {
  drive: {
    id: '55656082996',
    name: 'Drive and Docs',
    params: [{ key: 'PRIVACY_LEVEL', value: ['PRIVATE', 'SHARED'] }],
  },
  calendar: { id: '435070579839', name: 'Calendar', params: [{ key: 'RELEASE_RESOURCES', value: ['TRUE'] }] },
} as const;

/** The Directory user fields the connector reads. */
export interface GoogleUser {
  id: string;
  primaryEmail: string;
  name?: { fullName?: string };
  aliases?: string[];
  nonEditableAliases?: string[];
  externalIds?: { value?: string; type?: string }[];
  suspended?: boolean;
  isEnrolledIn2Sv?: boolean;
  isEnforcedIn2Sv?: boolean;
}

interface DataTransfer {
  id: string;
  oldOwnerUserId?: string;
  newOwnerUserId?: string;
  overallTransferStatusCode?: string;
  requestTime?: string;
  applicationDataTransfers?: {
    applicationId?: string;
    applicationTransferStatus?: string;
    applicationTransferParams?: { key?: string; value?: string[] }[];
  }[];
}

export interface TransferEvidence {
  id: string;
  status: string;
  requestTime: string | null;
  applications: { id: string; name: string; status: string | null; params: string[] }[];
}

export type MailEvidence =
  | { mode: 'none' }
  | { mode: 'delegate'; delegate: string; verificationStatus: string }
  | { mode: 'forward'; forwardTo: string; disposition: string; enabled: true }
  | { mode: 'delegate' | 'forward'; readBack: 'not possible'; why: string };

export interface HandoverEvidence {
  manager: string | null;
  managerId: string | null;
  mail: MailEvidence;
  transfer: TransferEvidence | null;
}

const enc = encodeURIComponent;
const D = '/admin/directory/v1';
const T = '/admin/datatransfer/v1/transfers';
const settings = (u: GoogleUser) => `/gmail/v1/users/${enc(u.primaryEmail)}/settings`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const nothingSuspended = (why: string) =>
  new TargetRejectedError(
    `${why}. Nothing was suspended: the leaver's data must reach a manager first. Record the manager on ` +
      'the departure and re-drive the step, or hand the data over by hand and resolve the step with a note',
  );

/** Hands the leaver's mail and data to their manager and reads both back; `changes` gets what was done. */
export async function handOver(
  api: GoogleApi,
  cfg: GoogleConnectorConfig,
  subject: Subject,
  user: GoogleUser,
  changes: string[],
): Promise<HandoverEvidence> {
  const apps = cfg.transfer.map((a) => TRANSFER_APPS[a]);
  if (apps.length === 0 && cfg.mailHandover === 'none')
    return { manager: null, managerId: null, mail: { mode: 'none' }, transfer: null };
  const managerEmail = subject.managerEmail?.trim();
  if (!managerEmail)
    throw nothingSuspended('The departure names no manager to hand the Google Workspace data to');
  const r = await api.admin('GET', `${D}/users/${enc(managerEmail)}`);
  const manager = r.status === 404 ? null : (r.json as GoogleUser);
  // Messages name no address (they reach logs); the evidence and the step's detail do.
  if (!manager)
    throw nothingSuspended("The departure's manager (managerEmail) has no Google Workspace account");
  if (manager.suspended) throw nothingSuspended("The departure's manager is suspended in Google Workspace");
  if (manager.id === user.id) throw nothingSuspended('The departure names the leaver as their own manager');

  const earlier = apps.length > 0 ? await latestTransfer(api, subject, user, manager, apps) : null;
  let mail: MailEvidence;
  if (cfg.mailHandover === 'none') mail = { mode: 'none' };
  else if (user.suspended) {
    // Gmail refuses calls for a suspended user. This connector suspends only after the handover was
    // read back, and requests the transfer only after the mail handover: a transfer for this departure
    // is the trace of an earlier attempt that got that far.
    if (apps.length === 0 || !earlier)
      throw new TargetRejectedError(
        `The user was already suspended (not by this step) before the mail handover (${cfg.mailHandover}), ` +
          'which Gmail refuses for a suspended user. Nothing was changed: restore the user for the handover ' +
          'and re-drive the step, or hand the mail over by hand and resolve the step with a note',
      );
    mail = {
      mode: cfg.mailHandover,
      readBack: 'not possible',
      why:
        `the user is suspended and Gmail refuses calls for a suspended user; the mail handover was read back ` +
        `before suspension by the attempt that requested transfer ${earlier.id}`,
    };
  } else
    mail =
      cfg.mailHandover === 'delegate'
        ? await delegate(api, user, manager, changes)
        : await forward(api, cfg, user, manager, changes);

  const transfer =
    apps.length > 0 ? await transferData(api, cfg, user, manager, apps, earlier, changes) : null;
  return { manager: manager.primaryEmail, managerId: manager.id, mail, transfer };
}

async function delegate(
  api: GoogleApi,
  user: GoogleUser,
  manager: GoogleUser,
  changes: string[],
): Promise<MailEvidence> {
  const path = `${settings(user)}/delegates/${enc(manager.primaryEmail)}`;
  let d = await api.gmail(user.primaryEmail, 'GET', path);
  if (d.status === 404) {
    // The manager by primary email (Gmail refuses an alias); same organization only.
    await api.gmail(user.primaryEmail, 'POST', `${settings(user)}/delegates`, {
      delegateEmail: manager.primaryEmail,
    });
    changes.push(`made ${manager.primaryEmail} a Gmail delegate of the mailbox`);
    d = await api.gmail(user.primaryEmail, 'GET', path);
  }
  const status = (d.json as { verificationStatus?: string } | null)?.verificationStatus ?? 'missing';
  if (d.status === 404 || status !== 'accepted')
    throw new ConfirmationMismatchError(
      `Gmail does not show the manager as an accepted delegate of the mailbox (${d.status === 404 ? 'not listed' : status})`,
    );
  return { mode: 'delegate', delegate: manager.primaryEmail, verificationStatus: status };
}

async function forward(
  api: GoogleApi,
  cfg: GoogleConnectorConfig,
  user: GoogleUser,
  manager: GoogleUser,
  changes: string[],
): Promise<MailEvidence> {
  const to = manager.primaryEmail;
  type Fwd = { enabled?: boolean; emailAddress?: string; disposition?: string };
  const now = (await api.gmail(user.primaryEmail, 'GET', `${settings(user)}/autoForwarding`))
    .json as Fwd | null;
  const same = (f: Fwd | null) =>
    !!f?.enabled &&
    f.emailAddress?.toLowerCase() === to.toLowerCase() &&
    f.disposition === cfg.forwardDisposition;
  if (!same(now)) {
    const addr = `${settings(user)}/forwardingAddresses`;
    let a = await api.gmail(user.primaryEmail, 'GET', `${addr}/${enc(to)}`);
    if (a.status === 404) {
      a = await api.gmail(user.primaryEmail, 'POST', addr, { forwardingEmail: to });
      changes.push(`added ${to} as a forwarding address`);
    }
    const status = (a.json as { verificationStatus?: string } | null)?.verificationStatus;
    if (status !== 'accepted')
      throw new TargetRejectedError(
        `Gmail wants the manager's address verified for forwarding (${status ?? 'unknown'}): Gmail sent it a ` +
          'verification message; once it is confirmed, re-drive the step',
      );
    await api.gmail(user.primaryEmail, 'PUT', `${settings(user)}/autoForwarding`, {
      enabled: true,
      emailAddress: to,
      disposition: cfg.forwardDisposition,
    });
    changes.push(`forwarded new mail to ${to} (${cfg.forwardDisposition})`);
  }
  const back = (await api.gmail(user.primaryEmail, 'GET', `${settings(user)}/autoForwarding`))
    .json as Fwd | null;
  if (!same(back))
    throw new ConfirmationMismatchError(
      'Gmail does not show auto-forwarding to the manager after setting it',
    );
  return { mode: 'forward', forwardTo: to, disposition: cfg.forwardDisposition, enabled: true };
}

/** The newest transfer from the leaver to the manager requested since the termination, covering `apps`. */
async function latestTransfer(
  api: GoogleApi,
  subject: Subject,
  user: GoogleUser,
  manager: GoogleUser,
  apps: { id: string }[],
): Promise<DataTransfer | null> {
  const since = Date.parse(subject.confirmedAt);
  const list =
    (await api.list<DataTransfer>(
      `${T}?oldOwnerUserId=${enc(user.id)}&newOwnerUserId=${enc(manager.id)}&maxResults=500`,
      'dataTransfers',
    )) ?? [];
  const covers = (t: DataTransfer) =>
    apps.every((a) => (t.applicationDataTransfers ?? []).some((x) => x.applicationId === a.id));
  const mine = list
    .filter((t) => t.oldOwnerUserId === user.id && t.newOwnerUserId === manager.id && covers(t))
    .filter((t) => Date.parse(t.requestTime ?? '') >= since)
    .sort((a, b) => Date.parse(b.requestTime ?? '') - Date.parse(a.requestTime ?? ''));
  return mine[0] ?? null;
}

async function transferData(
  api: GoogleApi,
  cfg: GoogleConnectorConfig,
  user: GoogleUser,
  manager: GoogleUser,
  apps: { id: string; name: string; params: readonly { key: string; value: readonly string[] }[] }[],
  earlier: DataTransfer | null,
  changes: string[],
): Promise<TransferEvidence> {
  let t = earlier;
  if (!t || t.overallTransferStatusCode === 'failed') {
    const r = await api.admin('POST', T, {
      oldOwnerUserId: user.id,
      newOwnerUserId: manager.id,
      applicationDataTransfers: apps.map((a) => ({
        applicationId: a.id,
        applicationTransferParams: a.params,
      })),
    });
    t = r.json as DataTransfer;
    changes.push(
      `requested data transfer ${t.id} of ${apps.map((a) => a.name).join(' and ')} to ${manager.primaryEmail}` +
        (earlier ? ` (transfer ${earlier.id} had failed)` : ''),
    );
  }
  const deadline = Date.now() + durationMs(cfg.transferWait);
  for (;;) {
    const r = await api.admin('GET', `${T}/${enc(t.id)}`);
    if (r.status === 404) throw new ConfirmationMismatchError(`Google no longer knows data transfer ${t.id}`);
    t = r.json as DataTransfer;
    const status = t.overallTransferStatusCode ?? 'unknown';
    if (status === 'completed') break;
    if (status === 'failed')
      throw new ConfirmationMismatchError(
        `data transfer ${t.id} failed; the next attempt requests a new one`,
      );
    const left = deadline - Date.now();
    if (left <= 0)
      throw new ConfirmationMismatchError(
        `data transfer ${t.id} to the manager is still ${status}: the step is retried until it completes (nothing is suspended before)`,
      );
    await sleep(Math.min(1_000, left));
  }
  return {
    id: t.id,
    status: 'completed',
    requestTime: t.requestTime ?? null,
    applications: (t.applicationDataTransfers ?? []).map((a) => ({
      id: a.applicationId ?? '?',
      name:
        Object.values(TRANSFER_APPS).find((x) => x.id === a.applicationId)?.name ??
        `application ${a.applicationId}`,
      status: a.applicationTransferStatus ?? null,
      params: (a.applicationTransferParams ?? []).map((p) => `${p.key}=${(p.value ?? []).join('+')}`),
    })),
  };
}

/** One line per handover fact of a step's evidence (for the data-archiving confirmation), or none. */
export function handoverLines(evidence: unknown): string[] {
  const h = (evidence as { confirmation?: { handover?: HandoverEvidence } } | null)?.confirmation?.handover;
  if (!h || !h.manager) return [];
  const lines: string[] = [];
  if (h.transfer)
    lines.push(
      `Data transfer ${h.transfer.id} to ${h.manager}: ${h.transfer.status} (` +
        h.transfer.applications
          .map((a) => `${a.name}${a.params.length ? ` ${a.params.join(', ')}` : ''}`)
          .join('; ') +
        ')',
    );
  const m = h.mail;
  if (m.mode === 'none') lines.push('Mail: not handed over (catalog: mailHandover none)');
  else if ('readBack' in m) lines.push(`Mail (${m.mode}): ${m.why}`);
  else if (m.mode === 'delegate')
    lines.push(`Mail: ${m.delegate} is a Gmail delegate (${m.verificationStatus})`);
  else lines.push(`Mail: forwarded to ${m.forwardTo} (${m.disposition})`);
  return lines;
}
