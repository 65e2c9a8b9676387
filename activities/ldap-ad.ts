/**
 * Active Directory specifics of the directory connector (`disableMethod: ad-useraccountcontrol`):
 * `userAccountControl` bits, `accountExpires` as a Windows FILETIME, the primary group (held through
 * `primaryGroupID`, never listed in `memberOf`), passwords (`unicodePwd`), entries found again by
 * `objectGUID` after a move.
 */
import { randomBytes, randomInt } from 'node:crypto';
import {
  AlreadyExistsError,
  Attribute,
  Change,
  ConstraintViolationError,
  NoSuchObjectError,
  UnwillingToPerformError,
  type Client,
  type Entry,
} from 'ldapts';
import type { LdapConnectorConfig } from '../config/catalog';
import type { OwnedCredential, RevokeResult, Subject } from './connector';
import { ConfirmationMismatchError, TargetRejectedError } from './errors';
import {
  BINARY_ATTRS,
  first,
  groupsOf,
  isUnder,
  normDn,
  readEntry,
  removeMember,
  values,
} from './ldap-entries';

/** ACCOUNTDISABLE in `userAccountControl`. */
export const ACCOUNTDISABLE = 0x2;

/** `accountExpires` values that mean "never". */
const NEVER = new Set(['0', '9223372036854775807']);
/** 100-nanosecond intervals between 1601-01-01 and 1970-01-01. */
const EPOCH_OFFSET = 116_444_736_000_000_000n;

/** Epoch milliseconds as a Windows FILETIME (100 ns since 1601), the syntax of `accountExpires`. */
export function fileTime(ms: number): string {
  return (BigInt(Math.floor(ms)) * 10_000n + EPOCH_OFFSET).toString();
}

/** A FILETIME as epoch milliseconds; null for "never" or a value that is no FILETIME. */
export function fileTimeMs(v: string | undefined): number | null {
  if (v === undefined || NEVER.has(v) || !/^\d+$/.test(v)) return null;
  return Number((BigInt(v) - EPOCH_OFFSET) / 10_000n);
}

/** True when `accountExpires` says the account has expired at `nowMs`. */
export function isExpired(accountExpires: string | undefined, nowMs: number): boolean {
  const at = fileTimeMs(accountExpires);
  return at !== null && at <= nowMs;
}

/** A binary SID (`objectSid`) in its string form, `S-1-5-21-…-1104`. */
export function sidString(sid: Buffer): string {
  const count = sid[1] ?? 0;
  let authority = 0n;
  for (let i = 2; i < 8; i++) authority = (authority << 8n) | BigInt(sid[i] ?? 0);
  const subs: number[] = [];
  for (let i = 0; i < count; i++) subs.push(sid.readUInt32LE(8 + 4 * i));
  return `S-${sid[0] ?? 1}-${authority}-${subs.join('-')}`;
}

/** An `objectGUID` in the dashed form Windows shows (the first three fields little-endian). */
export function guidString(g: Buffer): string {
  const h = (b: Buffer) => b.toString('hex');
  const rev = (from: number, to: number) => Buffer.from(g.subarray(from, to)).reverse();
  return `${h(rev(0, 4))}-${h(rev(4, 6))}-${h(rev(6, 8))}-${h(g.subarray(8, 10))}-${h(g.subarray(10, 16))}`;
}

function buf(v: Entry[string] | undefined): Buffer | null {
  const x = Array.isArray(v) ? v[0] : v;
  return Buffer.isBuffer(x) ? x : null;
}

/** The entry with this `objectGUID` (wherever a move put it), or null. */
export async function readByGuid(c: Client, guid: Buffer, attributes: string[]): Promise<Entry | null> {
  try {
    const { searchEntries } = await c.search(`<GUID=${guid.toString('hex')}>`, {
      scope: 'base',
      attributes,
      explicitBufferAttributes: BINARY_ATTRS,
    });
    return searchEntries[0] ?? null;
  } catch (e) {
    if (e instanceof NoSuchObjectError) return null;
    throw e;
  }
}

/** The entry's `objectGUID`, or null when it was not read. */
export const guidOf = (e: Entry): Buffer | null => buf(e.objectGUID);

/**
 * The DN of the entry's primary group (domain SID + `primaryGroupID`, e.g. Domain Users, 513), which AD
 * keeps as membership whatever `member` says; null when the entry has none or it cannot be read.
 */
export async function primaryGroupDn(c: Client, e: Entry): Promise<{ dn: string; rid: number } | null> {
  const sid = buf(e.objectSid);
  const rid = Number([e.primaryGroupID].flat()[0] ?? NaN);
  if (!sid || !Number.isInteger(rid)) return null;
  const domain = sidString(sid).split('-').slice(0, -1).join('-');
  try {
    const { searchEntries } = await c.search(`<SID=${domain}-${rid}>`, {
      scope: 'base',
      attributes: ['1.1'],
    });
    const dn = searchEntries[0]?.dn;
    return dn ? { dn, rid } : null;
  } catch (e) {
    if (e instanceof NoSuchObjectError) return null;
    throw e;
  }
}

/** A random password AD's complexity rules accept (upper, lower, digit, symbol; 36 characters). */
export function randomAdPassword(): string {
  const pick = (set: string) => set[randomInt(set.length)]!;
  return `${pick('ABCDEFGHJKLMNPQRSTUVWXYZ')}${pick('abcdefghijkmnpqrstuvwxyz')}${pick('23456789')}${pick('-_.!')}${randomBytes(24).toString('base64url')}`;
}

/**
 * Replaces an entry's password (`unicodePwd`: the password in double quotes, UTF-16LE). AD takes it
 * only over an encrypted connection, and refuses one its policy rejects.
 */
export async function resetPassword(c: Client, dn: string, password: string): Promise<void> {
  try {
    await c.modify(
      dn,
      new Change({
        operation: 'replace',
        modification: new Attribute({
          type: 'unicodePwd',
          values: [Buffer.from(`"${password}"`, 'utf16le')],
        }),
      }),
    );
  } catch (e) {
    if (e instanceof UnwillingToPerformError)
      throw new TargetRejectedError(
        `the directory refused to set the password of ${dn} (${e.message}): a password is set only over ` +
          'an encrypted connection (ldaps:// or startTls: true)',
      );
    if (e instanceof ConstraintViolationError)
      throw new TargetRejectedError(
        `the directory's password policy refused a new password for ${dn}: ${e.message}`,
      );
    throw e;
  }
}

/** The first RDN of a DN (`CN=Dana Reyes`), with its escapes kept. */
export function firstRdn(dn: string): string {
  const m = /^((?:[^,\\]|\\.)+)/.exec(dn);
  return m?.[1] ?? dn;
}

/**
 * Moves `dn` under `ou`, keeping its RDN; when an entry of that name is already there, the RDN gets
 * the account name appended (`CN=Dana Reyes (dreyes)`). Returns the new DN.
 */
export async function moveUnder(c: Client, dn: string, ou: string, accountName: string): Promise<string> {
  const rdn = firstRdn(dn);
  const target = `${rdn},${ou}`;
  try {
    await c.modifyDN(dn, target);
    return target;
  } catch (e) {
    if (!(e instanceof AlreadyExistsError)) throw e;
  }
  const escaped = accountName.replace(/([,\\#+<>;"=])/g, '\\$1');
  const renamed = `${rdn} (${escaped}),${ou}`;
  await c.modifyDN(dn, renamed);
  return renamed;
}

// ---------------------------------------------------------------- the leaver's account

/** Attributes the AD revocation reads and confirms. */
export const AD_USER_ATTRS = [
  'userAccountControl',
  'accountExpires',
  'memberOf',
  'primaryGroupID',
  'objectSid',
  'objectGUID',
  'sAMAccountName',
];

const uacOf = (e: Entry): number => Number(first(e.userAccountControl) ?? NaN);
const iso = (ms: number) => new Date(ms).toISOString();

async function replace(c: Client, dn: string, type: string, value: string): Promise<void> {
  await c.modify(
    dn,
    new Change({ operation: 'replace', modification: new Attribute({ type, values: [value] }) }),
  );
}

/** Every group holding the entry: its `memberOf`, and the groups under `groupBaseDn` that list it. */
async function adGroups(c: Client, groupBaseDn: string, e: Entry): Promise<string[]> {
  const all = [...values(e.memberOf), ...(await groupsOf(c, groupBaseDn, e.dn)).map((g) => g.dn)];
  const seen = new Map<string, string>();
  for (const g of all) if (!seen.has(normDn(g))) seen.set(normDn(g), g);
  return [...seen.values()];
}

/**
 * The groups that make `e` protected in matching: its `memberOf`, the groups under `groupBaseDn` that
 * list it, and its primary group (which `memberOf` never shows).
 */
export async function adGroupsForProtection(c: Client, groupBaseDn: string, dn: string): Promise<string[]> {
  const e = await readEntry(c, dn, AD_USER_ATTRS);
  if (!e) return [];
  const primary = await primaryGroupDn(c, e);
  return [...(await adGroups(c, groupBaseDn, e)), ...(primary ? [primary.dn] : [])];
}

/**
 * Revokes an Active Directory account: ACCOUNTDISABLE set (the other `userAccountControl` bits kept),
 * `accountExpires` set to the termination's confirmation (or now, if that is later), removed from every
 * group in `memberOf` and under `groupBaseDn`, and moved under `disabledOu` when the catalog names one.
 * Each is skipped where the entry already shows it. Confirmed by reading the entry back by its
 * `objectGUID` (its DN changes with a move). The primary group stays: AD holds it through
 * `primaryGroupID`, not `member`; the evidence names it.
 */
export async function revokeAdAccount(
  c: Client,
  cfg: LdapConnectorConfig,
  subject: Subject,
  dn: string,
): Promise<RevokeResult> {
  // A missing OU is a catalog mistake: say so before anything changes.
  if (cfg.disabledOu && !(await readEntry(c, cfg.disabledOu, ['1.1'])))
    throw new TargetRejectedError(`connector.disabledOu ${cfg.disabledOu} does not exist`);
  const user = await readEntry(c, dn, AD_USER_ATTRS);
  if (!user)
    return {
      changes: [],
      confirmation: { dn, exists: false },
      detail: 'account removed since it was matched',
    };
  const guid = guidOf(user);
  const uac = uacOf(user);
  if (!guid || !Number.isInteger(uac))
    throw new TargetRejectedError(
      `${dn} has no objectGUID or userAccountControl: not an Active Directory account (connector.disableMethod)`,
    );
  const changes: string[] = [];
  if ((uac & ACCOUNTDISABLE) === 0) {
    await replace(c, user.dn, 'userAccountControl', String(uac | ACCOUNTDISABLE));
    changes.push('account disabled');
  }
  const now = Date.now();
  if (!isExpired(first(user.accountExpires), now)) {
    const at = Math.min(Date.parse(subject.confirmedAt) || now, now);
    await replace(c, user.dn, 'accountExpires', fileTime(at));
    changes.push(`account expires ${iso(at)}`);
  }
  for (const g of await adGroups(c, cfg.groupBaseDn, user)) {
    if (await removeMember(c, g, 'member', user.dn, cfg.emptyGroupMember)) changes.push(`removed from ${g}`);
  }
  if (cfg.disabledOu && !isUnder(user.dn, cfg.disabledOu)) {
    const to = await moveUnder(c, user.dn, cfg.disabledOu, first(user.sAMAccountName) ?? guidString(guid));
    changes.push(`moved to ${to}`);
  }

  const after = await readByGuid(c, guid, AD_USER_ATTRS);
  if (!after)
    return {
      changes,
      confirmation: { objectGUID: guidString(guid), exists: false },
      detail: 'account removed during revocation',
    };
  const problems: string[] = [];
  if ((uacOf(after) & ACCOUNTDISABLE) === 0) problems.push('the account enabled');
  const expires = fileTimeMs(first(after.accountExpires));
  if (expires === null || expires > Date.now()) problems.push('accountExpires not reached');
  const still = await adGroups(c, cfg.groupBaseDn, after);
  if (still.length > 0) problems.push(`membership of ${still.join(', ')}`);
  if (cfg.disabledOu && !isUnder(after.dn, cfg.disabledOu))
    problems.push(`the entry outside ${cfg.disabledOu}`);
  if (problems.length > 0)
    throw new ConfirmationMismatchError(`directory still shows ${problems.join('; ')} (${after.dn})`);

  const primary = await primaryGroupDn(c, after);
  const primaryNote = primary
    ? `AD keeps the primary group ${primary.dn} (primaryGroupID ${primary.rid}): it is held through ` +
      'primaryGroupID, not a removable membership, and a disabled account cannot use it'
    : null;
  return {
    changes,
    confirmation: {
      dn: after.dn,
      objectGUID: guidString(guid),
      disabled: true,
      method: cfg.disableMethod,
      userAccountControl: uacOf(after),
      accountExpires: iso(expires!),
      memberOf: [],
      groups: 0,
      primaryGroup: primary ? { dn: primary.dn, primaryGroupID: primary.rid } : null,
      ...(cfg.disabledOu ? { disabledOu: cfg.disabledOu } : {}),
    },
    detail:
      `account disabled (userAccountControl ${uacOf(after)}), expired since ${iso(expires!)}, member of no ` +
      `group${cfg.disabledOu ? `, in ${cfg.disabledOu}` : ''}${primaryNote ? `; ${primaryNote}` : ''}`,
  };
}

// ---------------------------------------------------------------- service accounts the leaver owns

/** Service accounts the leaver owns when the catalog gives no `ownedAccountFilter`. */
export const AD_OWNED_FILTER = '(&(objectClass=user)(managedBy={dn}))';

const OWNED_ATTRS = ['userAccountControl', 'pwdLastSet', 'objectClass'];

/** A bind probe: how the directory answered a bind as `dn` with `password`. */
export type BindProbe = (dn: string, password: string) => Promise<{ refused: boolean; code: string | null }>;

const BIND_CODES: Record<string, string> = {
  '533': 'account disabled',
  '701': 'account expired',
  '52e': 'wrong password',
  '775': 'account locked out',
};

/**
 * Revokes an AD service account the leaver owns: disabled (ACCOUNTDISABLE) and its password replaced
 * (twice, so the old one is not even "the previous password") with a random one nobody keeps, unless
 * the account was already disabled and its password replaced after the termination was confirmed (by
 * an earlier attempt). Confirmed by reading `userAccountControl` and `pwdLastSet` back and, when this call
 * set the password, by a bind with it that AD refuses as `data 533` (account disabled). A group managed
 * service account's password is AD's own and is left alone.
 */
export async function revokeAdOwned(
  c: Client,
  cfg: LdapConnectorConfig,
  subject: Subject,
  item: OwnedCredential,
  probe: BindProbe,
): Promise<RevokeResult> {
  const dn = item.id;
  const entry = await readEntry(c, dn, OWNED_ATTRS);
  if (!entry)
    return {
      changes: [],
      confirmation: { dn, exists: false },
      detail: `service account ${item.name} no longer exists (confirmed by search)`,
    };
  const uac = uacOf(entry);
  if (!Number.isInteger(uac))
    throw new TargetRejectedError(`${dn} has no userAccountControl: not an Active Directory account`);
  const changes: string[] = [];
  const wasDisabled = (uac & ACCOUNTDISABLE) !== 0;
  if (!wasDisabled) {
    await replace(c, dn, 'userAccountControl', String(uac | ACCOUNTDISABLE));
    changes.push('account disabled');
  }
  // A password set after the termination on an account already disabled is ours, from an earlier
  // attempt; one set while the account was still enabled may be the leaver's: replaced again.
  const gmsa = values(entry.objectClass).some((o) => o.toLowerCase() === 'msds-groupmanagedserviceaccount');
  const since = Date.parse(subject.confirmedAt);
  const setBefore = fileTimeMs(first(entry.pwdLastSet));
  let secret: string | null = null;
  if (!gmsa && !(wasDisabled && setBefore !== null && setBefore >= since)) {
    // Twice: after a reset AD still accepts the previous password for a while (NTLM's
    // OldPasswordAllowedPeriod, 60 minutes by default; Samba honours it for LDAP binds too). After the
    // second, the leaver's is two passwords back and refused at once.
    await resetPassword(c, dn, randomAdPassword());
    secret = randomAdPassword();
    await resetPassword(c, dn, secret);
    changes.push('password replaced');
  }

  const after = await readEntry(c, dn, OWNED_ATTRS);
  if (!after)
    return {
      changes,
      confirmation: { dn, exists: false },
      detail: `service account ${item.name} removed during revocation`,
    };
  if ((uacOf(after) & ACCOUNTDISABLE) === 0)
    throw new ConfirmationMismatchError(`directory still shows service account ${dn} enabled`);
  const setAfter = fileTimeMs(first(after.pwdLastSet));
  const replaced =
    secret !== null ? setAfter !== null && (setBefore === null || setAfter > setBefore) : !gmsa;
  if (secret !== null && !replaced)
    throw new ConfirmationMismatchError(`pwdLastSet of ${dn} did not change after its password was replaced`);
  const confirmation: Record<string, unknown> = {
    dn,
    disabled: true,
    method: cfg.disableMethod,
    userAccountControl: uacOf(after),
    passwordReplaced: replaced,
    passwordLastSet: setAfter === null ? null : iso(setAfter),
  };
  let detail = `service account ${item.name} disabled (userAccountControl ${uacOf(after)})`;
  if (gmsa) detail += '; a group managed service account: its password is AD-managed, nobody holds it';
  else
    detail += `, password replaced${secret === null ? ' after the termination' : ''} with one nobody holds`;
  if (secret !== null) {
    const bind = await probe(dn, secret);
    if (!bind.refused)
      throw new ConfirmationMismatchError(`service account ${dn} still accepts a bind after being disabled`);
    const why = bind.code
      ? `data ${bind.code}${BIND_CODES[bind.code] ? `: ${BIND_CODES[bind.code]}` : ''}`
      : 'refused';
    confirmation.bindRefused = true;
    confirmation.bindRefusal = why;
    detail += `, bind refused (${why})`;
  }
  return { changes, confirmation, detail };
}
