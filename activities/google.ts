/**
 * Google Workspace through the Admin SDK Directory API (and the Data Transfer and Gmail APIs for the
 * handover), as a service account with domain-wide delegation. One catalog entry revokes one `scope`:
 *
 * - `account` (identity tier, action `handover_suspend_signout_tokens_2sv_groups_devices`): first the
 *   handover to the manager (google-handover.ts: mail by `mailHandover`, Drive and Calendar by a data
 *   transfer read back until completed), then sign out of every session (`POST users/<id>/signOut`),
 *   suspend (`PATCH users/<id>` `{"suspended":true}`), delete every OAuth token and app password,
 *   invalidate the backup codes, turn 2-step verification off, remove every group membership and wipe the
 *   account from every mobile device (`admin_account_wipe`). Confirmed by reading back `suspended: true`,
 *   no token, no app password, no backup code, `isEnrolledIn2Sv: false`, no group (each removed one 404),
 *   and each device's status. Google has no API that lists a user's sessions: the evidence says so.
 *   The tokens listed before their deletion are the apps the leaver authorised: the evidence's
 *   `consents` names each (`displayText`, `clientId`, `scopes`).
 * - `mfa` (MFA tier, action `turn_off_2sv_delete_app_passwords_backup_codes`): the second-factor part only.
 *
 * Found by the catalog's keys: `externalId` with `users.list` (`query=externalId='<value>'`), the primary
 * email and aliases with `users.get` (which takes either, and does not lag like search). A hit must carry
 * the value. A repeat on a revoked user changes nothing.
 */
import type { GoogleConnectorConfig } from '../config/catalog';
import type { Consent } from '../contract/consents';
import type { RevocationConnector, RevokeResult, Subject, TargetAccount } from './connector';
import { ConfirmationMismatchError, TargetRejectedError } from './errors';
import { createGoogleApi } from './google-api';
import { handOver, type GoogleUser, type HandoverEvidence } from './google-handover';
import { createMatcher, type KeyQuery, type MatchContext } from './matching';

export const ACCOUNT_ACTION = 'handover_suspend_signout_tokens_2sv_groups_devices';
export const MFA_ACTION = 'turn_off_2sv_delete_app_passwords_backup_codes';
export const ACCOUNT_WIPE = 'admin_account_wipe';

interface Token {
  clientId: string;
  displayText?: string;
  scopes?: string[];
}
interface Asp {
  codeId: number;
  name?: string;
}
interface Group {
  id: string;
  email?: string;
  name?: string;
}
interface MobileDevice {
  resourceId: string;
  model?: string;
  type?: string;
  status?: string;
  email?: string[];
}

const READ_BACK = [
  'suspended',
  'tokens',
  'asps',
  'verificationCodes',
  'isEnrolledIn2Sv',
  'groups',
  'mobile devices',
];
const NOT_READABLE = [
  'sessions (Google has no API that lists a user’s sessions: they were ended with users.signOut, not read back)',
  'whether a device has applied the account wipe (its status is read back and shown as Google reports it)',
];

/** A device status that says an account or device wipe is under way or done (Google does not list the values). */
const WIPED = /WIP(E|ING)/i;

export interface GoogleAccount extends TargetAccount {
  user: GoogleUser;
}

const accountOf = (u: GoogleUser): GoogleAccount => ({
  id: u.id,
  name: u.name?.fullName ? `${u.name.fullName} <${u.primaryEmail}>` : u.primaryEmail,
  aliases: [u.primaryEmail, ...(u.aliases ?? []), ...(u.nonEditableAliases ?? [])],
  user: u,
});

/** Does `u` carry the key's value? Emails compare without case, external ids exactly. */
export function carries(u: GoogleUser, q: KeyQuery): boolean {
  if ('filter' in q.key) return false;
  const v = q.value.toLowerCase();
  switch (q.key.attribute) {
    case 'externalId':
      return (u.externalIds ?? []).some((x) => x.value === q.value);
    case 'primaryEmail':
      return u.primaryEmail.toLowerCase() === v;
    case 'aliases':
      return [...(u.aliases ?? []), ...(u.nonEditableAliases ?? [])].some((a) => a.toLowerCase() === v);
    default:
      return false;
  }
}

/** The `users.list` query of an external id: `externalId='<value>'` (`\` and `'` escaped). */
export const externalIdQuery = (value: string) =>
  `externalId='${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const groupLabel = (g: Group) => g.email ?? g.name ?? g.id;
const deviceLabel = (d: MobileDevice) => `${d.model ?? d.type ?? 'device'} (${d.resourceId})`;

/** Creates the Google Workspace connector for one catalog entry. */
export function createGoogleConnector(
  cfg: GoogleConnectorConfig,
  privateKey: string,
  match: MatchContext,
): RevocationConnector<GoogleAccount> {
  const api = createGoogleApi(cfg, privateKey);
  const enc = encodeURIComponent;
  const D = '/admin/directory/v1';
  const user = (id: string) => `${D}/users/${enc(id)}`;

  async function getUser(key: string): Promise<GoogleUser | null> {
    const r = await api.admin('GET', user(key));
    return r.status === 404 ? null : (r.json as GoogleUser);
  }
  const items = async <T>(path: string): Promise<T[]> => {
    const r = await api.admin('GET', path);
    return r.status === 404 ? [] : (((r.json as { items?: T[] } | null)?.items ?? []) as T[]);
  };
  const tokens = (id: string) => items<Token>(`${user(id)}/tokens`);
  const asps = (id: string) => items<Asp>(`${user(id)}/asps`);
  const codes = (id: string) => items<unknown>(`${user(id)}/verificationCodes`);
  const groups = async (id: string) =>
    (await api.list<Group>(`${D}/groups?userKey=${enc(id)}&maxResults=200`, 'groups')) ?? [];
  const devices = async (u: GoogleUser) =>
    (
      (await api.list<MobileDevice>(
        `${D}/customer/${enc(cfg.customerId)}/devices/mobile?query=${enc(`email:${u.primaryEmail}`)}&maxResults=100`,
        'mobiledevices',
      )) ?? []
    ).filter((d) => (d.email ?? []).some((e) => e.toLowerCase() === u.primaryEmail.toLowerCase()));
  const device = (rid: string) => `${D}/customer/${enc(cfg.customerId)}/devices/mobile/${enc(rid)}`;

  const gone = (id: string, changes: string[]): RevokeResult => ({
    changes,
    confirmation: { id, exists: false },
    detail: 'the user no longer exists in Google Workspace (confirmed by lookup)',
  });

  /** App passwords, backup codes and 2-step verification: removed, each removal a change. */
  async function secondFactors(u: GoogleUser, changes: string[]) {
    const done = { asps: 0, codes: false, twoSv: false };
    for (const a of await asps(u.id))
      if ((await api.admin('DELETE', `${user(u.id)}/asps/${a.codeId}`)).status !== 404) {
        changes.push(`deleted app password ${a.name ?? a.codeId}`);
        done.asps++;
      }
    if ((await codes(u.id)).length > 0) {
      await api.admin('POST', `${user(u.id)}/verificationCodes/invalidate`);
      changes.push('invalidated the backup verification codes');
      done.codes = true;
    }
    if (u.isEnrolledIn2Sv) {
      await api.admin('POST', `${user(u.id)}/twoStepVerification/turnOff`);
      changes.push('turned 2-step verification off');
      done.twoSv = true;
    }
    return done;
  }

  /** What of the second factors is still there after the changes. */
  async function factorsLeft(id: string): Promise<{ user: GoogleUser | null; left: string[] }> {
    const [u, as, cs] = await Promise.all([getUser(id), asps(id), codes(id)]);
    const left: string[] = [];
    if (as.length) left.push(plural(as.length, 'app password'));
    if (cs.length) left.push(plural(cs.length, 'backup code'));
    if (u?.isEnrolledIn2Sv)
      left.push(`2-step verification enrolled${u.isEnforcedIn2Sv ? ' (enforced)' : ''}`);
    return { user: u, left };
  }

  async function revokeAccount(subject: Subject, account: GoogleAccount): Promise<RevokeResult> {
    const id = account.id;
    const before = await getUser(id);
    if (!before) return gone(id, []);
    const changes: string[] = [];
    // The handover first: it needs the user unsuspended (and throws, suspending nothing, when it cannot).
    const handover: HandoverEvidence = await handOver(api, cfg, subject, before, changes);
    const wasSuspended = !!before.suspended;
    if (!wasSuspended) {
      // Sessions end just before suspension, in the same attempt: a repeat after a crash between the two
      // finds the user unsuspended and signs out again; a suspended user cannot sign in.
      await api.admin('POST', `${user(id)}/signOut`);
      changes.push('signed out of every session');
      await api.admin('PATCH', user(id), { suspended: true });
      changes.push('suspended');
    }
    let tokensDeleted = 0;
    const authorised = await tokens(id);
    const consents: Consent[] = authorised.map((t) => ({
      appId: t.clientId,
      name: t.displayText || t.clientId,
      scopes: t.scopes ?? [],
      kind: 'oauth-token',
    }));
    for (const t of authorised)
      if ((await api.admin('DELETE', `${user(id)}/tokens/${enc(t.clientId)}`)).status !== 404) {
        changes.push(`deleted the OAuth token of ${t.displayText ?? t.clientId}`);
        tokensDeleted++;
      }
    const factors = await secondFactors(before, changes);
    const removed: Group[] = [];
    for (const g of await groups(id))
      if ((await api.admin('DELETE', `${D}/groups/${enc(g.id)}/members/${enc(id)}`)).status !== 404) {
        changes.push(`removed from group ${groupLabel(g)}`);
        removed.push(g);
      }
    let wiped = 0;
    for (const d of await devices(before))
      if (!WIPED.test(d.status ?? '')) {
        await api.admin('POST', `${device(d.resourceId)}/action`, { action: ACCOUNT_WIPE });
        changes.push(`wiped the account from ${deviceLabel(d)}`);
        wiped++;
      }

    // ---- Confirmation: read everything back.
    const [{ user: after, left }, ts, gs, ds] = await Promise.all([
      factorsLeft(id),
      tokens(id),
      groups(id),
      devices(before),
    ]);
    if (!after) return gone(id, changes);
    if (!after.suspended) left.push('not suspended');
    if (ts.length) left.push(`OAuth tokens of ${ts.map((t) => t.displayText ?? t.clientId).join(', ')}`);
    if (gs.length) left.push(`membership of ${gs.map(groupLabel).join(', ')}`);
    for (const g of removed)
      if ((await api.admin('GET', `${D}/groups/${enc(g.id)}/members/${enc(id)}`)).status !== 404)
        left.push(`group ${groupLabel(g)} still lists the user`);
    const unwiped = ds.filter((d) => !WIPED.test(d.status ?? ''));
    if (unwiped.length) left.push(`no account wipe shown on ${unwiped.map(deviceLabel).join(', ')}`);
    if (left.length > 0)
      throw new ConfirmationMismatchError(
        `Google Workspace still shows, after revocation: ${left.join('; ')}`,
      );
    const n = (count: number, what: string) => (count ? ` (${count} ${what})` : '');
    return {
      changes,
      confirmation: {
        id,
        primaryEmail: after.primaryEmail,
        suspended: true,
        handover,
        oauthTokens: 0,
        consents,
        appPasswords: 0,
        backupCodes: 0,
        isEnrolledIn2Sv: false,
        groups: 0,
        mobileDevices: ds.map((d) => ({
          resourceId: d.resourceId,
          model: d.model ?? null,
          status: d.status ?? null,
        })),
        sessions: wasSuspended
          ? 'not signed out in this run: the user was already suspended; not readable'
          : 'ended with POST users/{id}/signOut (204) before suspension; not readable',
        readBack: READ_BACK,
        notReadable: NOT_READABLE,
      },
      detail: [
        handoverDetail(handover),
        `user suspended${wasSuspended ? ' (already)' : ''}`,
        wasSuspended
          ? 'not signed out again (already suspended)'
          : 'signed out of every session (not readable)',
        `no OAuth token${n(tokensDeleted, 'deleted')}`,
        `no app password${n(factors.asps, 'deleted')}`,
        `no backup code${factors.codes ? ' (invalidated)' : ''}`,
        `2-step verification off${factors.twoSv ? ' (turned off)' : ''}`,
        `in no group${n(removed.length, 'left')}`,
        ds.length
          ? `account wiped from ${plural(ds.length, 'mobile device')}${n(wiped, 'now')}`
          : 'no mobile device',
      ].join('; '),
    };
  }

  async function revokeMfa(_subject: Subject, account: GoogleAccount): Promise<RevokeResult> {
    const before = await getUser(account.id);
    if (!before) return gone(account.id, []);
    const changes: string[] = [];
    const done = await secondFactors(before, changes);
    const { user: after, left } = await factorsLeft(account.id);
    if (!after) return gone(account.id, changes);
    if (left.length > 0)
      throw new ConfirmationMismatchError(`Google Workspace still shows ${left.join('; ')}`);
    return {
      changes,
      confirmation: {
        id: account.id,
        primaryEmail: after.primaryEmail,
        appPasswords: 0,
        backupCodes: 0,
        isEnrolledIn2Sv: false,
      },
      detail: changes.length
        ? `${changes.join('; ')}; none left`
        : `no app password, no backup code, 2-step verification off${done.twoSv ? '' : ' (already)'}`,
    };
  }

  /** What still gives access through the user (the account entry) or as a second factor (both). */
  async function liveAccess(a: GoogleAccount): Promise<string | null> {
    const u = await getUser(a.id);
    if (!u) return null;
    const why: string[] = [];
    if (cfg.scope === 'account') {
      const [ts, gs] = await Promise.all([tokens(a.id), groups(a.id)]);
      if (!u.suspended) why.push('suspended=false');
      if (ts.length) why.push(plural(ts.length, 'OAuth token'));
      if (gs.length) why.push(`groups ${gs.map(groupLabel).join(', ')}`);
    }
    const { left } = await factorsLeft(a.id);
    why.push(...left);
    return why.length > 0 ? why.join('; ') : null;
  }

  async function search(queries: KeyQuery[]): Promise<GoogleAccount[][]> {
    const byEmail = new Map<string, Promise<GoogleUser | null>>();
    return Promise.all(
      queries.map(async (q) => {
        if ('filter' in q.key) throw new TargetRejectedError('a Google key cannot be an LDAP filter');
        let found: GoogleUser[];
        if (q.key.attribute === 'externalId') {
          const path = `${D}/users?customer=${enc(cfg.customerId)}&query=${enc(externalIdQuery(q.value))}&maxResults=500`;
          found = (await api.list<GoogleUser>(path, 'users')) ?? [];
        } else {
          const k = q.value.toLowerCase();
          if (!byEmail.has(k)) byEmail.set(k, getUser(q.value));
          const u = await byEmail.get(k)!;
          found = u ? [u] : [];
        }
        return found.filter((u) => carries(u, q)).map(accountOf);
      }),
    );
  }

  const matcher = createMatcher<GoogleAccount>(
    {
      async lookup(id) {
        const u = await getUser(id);
        return u ? accountOf(u) : null;
      },
      search,
      async groupsOf(a) {
        return (await groups(a.id)).flatMap((g) => [g.id, g.email ?? '', g.name ?? '']).filter(Boolean);
      },
      liveAccess,
    },
    match,
  );

  const accountScope = cfg.scope === 'account';
  return {
    executingSystem: `Google Workspace @ ${api.host}`,
    action: accountScope ? ACCOUNT_ACTION : MFA_ACTION,
    find: matcher.find,
    audit: matcher.audit,
    revoke: accountScope ? revokeAccount : revokeMfa,
    close: () => api.close(),
  };
}

/** The handover part of the step's one line. */
function handoverDetail(h: HandoverEvidence): string {
  if (!h.manager) return 'nothing to hand over (catalog: no transfer, mailHandover none)';
  const parts: string[] = [];
  if (h.transfer) parts.push(`data transfer ${h.transfer.id} to ${h.manager} completed`);
  const m = h.mail;
  if (m.mode === 'delegate' && 'delegate' in m) parts.push(`${m.delegate} is a Gmail delegate`);
  else if (m.mode === 'forward' && 'forwardTo' in m) parts.push(`mail forwarded to ${m.forwardTo}`);
  else if ('readBack' in m) parts.push(`mail ${m.mode} not re-read (user suspended)`);
  return `handed over before suspension: ${parts.join(', ')}`;
}
