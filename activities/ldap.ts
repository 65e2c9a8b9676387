/**
 * Directory (OpenLDAP or Active Directory) through ldapts. Two connectors share this module:
 *
 * - `ldap` (directory tier): disable the account and remove it from every group under `groupBaseDn`,
 *   confirmed by reading the entry and a group search back. With `ownedAccountFilter` it also finds the
 *   service accounts the leaver owns and disables each one.
 * - `ldap-group` (remote-access tier): remove the account from a fixed list of groups (e.g. the VPN
 *   groups), confirmed by reading each group back. It does not disable the account: that is the
 *   directory step's job.
 *
 * Disabling: OpenLDAP's ppolicy lock (`pwdAccountLockedTime: 000001010000Z`, which refuses binds while a
 * policy with `pwdLockout: TRUE` applies to the entry) or AD's ACCOUNTDISABLE bit in `userAccountControl`.
 * `groupOfNames` / `groupOfUniqueNames` must keep one member: when the leaver is the last,
 * `emptyGroupMember` takes their place.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  Attribute,
  Change,
  Client,
  EqualityFilter,
  InvalidCredentialsError,
  NoSuchAttributeError,
  NoSuchObjectError,
  ObjectClassViolationError,
  OrFilter,
  InsufficientAccessError,
  type Entry,
} from 'ldapts';
import type { LdapConnectorConfig, LdapGroupConnectorConfig } from '../config/catalog';
import { durationMs } from '../config/env';
import type { OwnedCredential, RevocationConnector, RevokeResult, Subject, TargetAccount } from './connector';
import { createMatcher, type AccountDirectory, type KeyQuery, type MatchContext } from './matching';
import {
  ConfirmationMismatchError,
  TargetAuthError,
  TargetRejectedError,
  TargetUnavailableError,
} from './errors';

/** The OpenLDAP ppolicy value meaning "locked by an administrator, permanently". */
export const PERMANENT_LOCK = '000001010000Z';
const ACCOUNTDISABLE = 0x2;

const escaper = new EqualityFilter({ attribute: 'x', value: '' });

/** Values a filter template may refer to; `dn` is the leaver's entry DN, when it is known. */
export interface FilterValues {
  employeeId: string;
  workEmail: string;
  dn?: string;
}

/**
 * Fills `{employeeId}`, `{workEmail}` and `{dn}` in a filter template in one pass, escaping the values
 * (RFC 4515), so a value can neither change the filter nor smuggle in another placeholder.
 */
export function renderFilter(template: string, values: FilterValues): string {
  return template.replace(/\{(employeeId|workEmail|dn)\}/g, (_, name: keyof FilterValues) => {
    const v = values[name];
    // Only the owned-account filter gets {dn}; elsewhere it is a catalog mistake, not worth retrying.
    if (v === undefined) throw new TargetRejectedError(`filter placeholder {${name}} cannot be used here`);
    return escaper.escape(v);
  });
}

function first(v: string | string[] | Buffer | Buffer[] | undefined): string | undefined {
  if (v === undefined) return undefined;
  const x = Array.isArray(v) ? v[0] : v;
  return x === undefined ? undefined : x.toString();
}

function mapLdapError(e: unknown, what: string): Error {
  if (e instanceof InvalidCredentialsError || e instanceof InsufficientAccessError)
    return new TargetAuthError(`${what}: ${e.message}`);
  if (e instanceof TargetRejectedError || e instanceof ConfirmationMismatchError) return e;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' || e instanceof Error)
    return new TargetUnavailableError(`${what}: ${(e as Error).message}`);
  return new TargetUnavailableError(`${what}: ${String(e)}`);
}

type ServerConfig = Pick<LdapConnectorConfig, 'url' | 'bindDn' | 'timeout'>;
type WithClient = <T>(what: string, fn: (c: Client) => Promise<T>) => Promise<T>;

/** Runs `fn` on a fresh connection bound as the connector's service DN; errors become domain errors. */
function clientFactory(cfg: ServerConfig, bindPassword: string): WithClient {
  const timeout = durationMs(cfg.timeout);
  return async (what, fn) => {
    const client = new Client({ url: cfg.url, timeout, connectTimeout: timeout });
    try {
      await client.bind(cfg.bindDn, bindPassword);
      return await fn(client);
    } catch (e) {
      throw mapLdapError(e, what);
    } finally {
      await client.unbind().catch(() => undefined);
    }
  };
}

const LOCK_ATTRS = ['pwdAccountLockedTime', 'userAccountControl', 'pwdChangedTime'];

/** Attributes read with a user: the lock state and the names matching and the evidence use. */
const USER_ATTRS = [
  'dn',
  ...LOCK_ATTRS,
  'cn',
  'displayName',
  'uid',
  'mail',
  'userPrincipalName',
  'sAMAccountName',
];

/** A directory entry as matching found it. */
export interface LdapAccount extends TargetAccount {
  entry: Entry;
}

function accountOf(entry: Entry): LdapAccount {
  const names = ['uid', 'mail', 'userPrincipalName', 'sAMAccountName']
    .flatMap((a) => [entry[a]].flat())
    .filter((v): v is string | Buffer => v !== undefined)
    .map(String);
  return {
    id: entry.dn,
    name: first(entry.displayName) ?? first(entry.cn) ?? entry.dn,
    aliases: names,
    entry,
  };
}

/** Most entries one key may find: two already make it ambiguous. */
const KEY_SIZE_LIMIT = 10;

/**
 * The user entries each key finds under `userBaseDn` (one search per key, over one connection):
 * equality on the key's attribute, matched by the server's own rules, or a catalog filter.
 */
async function searchUsers(
  c: Client,
  cfg: Pick<LdapConnectorConfig, 'userBaseDn'>,
  queries: KeyQuery[],
  subject: Subject,
): Promise<LdapAccount[][]> {
  const out: LdapAccount[][] = [];
  for (const q of queries) {
    const filter =
      'filter' in q.key
        ? renderFilter(q.key.filter, subject)
        : new EqualityFilter({ attribute: q.key.attribute, value: q.value });
    const { searchEntries } = await c.search(cfg.userBaseDn, {
      scope: 'sub',
      filter,
      attributes: USER_ATTRS,
      sizeLimit: KEY_SIZE_LIMIT,
    });
    out.push(searchEntries.map(accountOf));
  }
  return out;
}

/** An entry by DN under `userBaseDn` (a DN elsewhere is refused: it is no user of this directory). */
async function lookupUser(
  c: Client,
  cfg: Pick<LdapConnectorConfig, 'userBaseDn'>,
  dn: string,
): Promise<LdapAccount | null> {
  if (!isUnder(dn, cfg.userBaseDn))
    throw new TargetRejectedError(`${dn} is not under connector.userBaseDn (${cfg.userBaseDn})`);
  const entry = await readEntry(c, dn, USER_ATTRS);
  return entry ? accountOf(entry) : null;
}

/** One entry by DN, or null when it does not exist. */
async function readEntry(c: Client, dn: string, attributes: string[]): Promise<Entry | null> {
  try {
    const { searchEntries } = await c.search(dn, { scope: 'base', attributes });
    return searchEntries[0] ?? null;
  } catch (e) {
    if (e instanceof NoSuchObjectError) return null;
    throw e;
  }
}

type MemberAttr = 'member' | 'uniqueMember';
const MEMBER_ATTRS: MemberAttr[] = ['member', 'uniqueMember'];

/**
 * Which membership attributes of `groupDn` hold `userDn`, matched by the server (so differences of case
 * or spacing in the stored DN do not matter). Throws NoSuchObjectError when the group does not exist.
 */
async function memberAttrs(c: Client, groupDn: string, userDn: string): Promise<MemberAttr[]> {
  const out: MemberAttr[] = [];
  for (const attr of MEMBER_ATTRS) {
    const { searchEntries } = await c.search(groupDn, {
      scope: 'base',
      filter: new EqualityFilter({ attribute: attr, value: userDn }),
      attributes: ['1.1'],
    });
    if (searchEntries.length > 0) out.push(attr);
  }
  return out;
}

/**
 * Removes `userDn` from one membership attribute of a group. A group whose schema needs a member gets
 * `emptyGroupMember` in the same modify (atomic, and it does not clobber members added meanwhile).
 * Returns false when the value was already gone.
 */
async function removeMember(
  c: Client,
  groupDn: string,
  attr: MemberAttr,
  userDn: string,
  emptyGroupMember: string | undefined,
): Promise<boolean> {
  const del = new Change({
    operation: 'delete',
    modification: new Attribute({ type: attr, values: [userDn] }),
  });
  try {
    await c.modify(groupDn, del);
    return true;
  } catch (e) {
    if (e instanceof NoSuchAttributeError) return false;
    if (!(e instanceof ObjectClassViolationError)) throw e;
  }
  if (!emptyGroupMember)
    throw new TargetRejectedError(
      `cannot remove the last member of ${groupDn} (the schema needs one); set connector.emptyGroupMember`,
    );
  await c.modify(groupDn, [
    new Change({
      operation: 'add',
      modification: new Attribute({ type: attr, values: [emptyGroupMember] }),
    }),
    del,
  ]);
  return true;
}

/** Directory users' disable state, per `disableMethod`. */
function disabler(method: LdapConnectorConfig['disableMethod']) {
  function isDisabled(entry: Entry): boolean {
    if (method === 'openldap-ppolicy') return first(entry.pwdAccountLockedTime) === PERMANENT_LOCK;
    const uac = Number(first(entry.userAccountControl) ?? '0');
    return (uac & ACCOUNTDISABLE) !== 0;
  }
  /** Disables `entry` (read with LOCK_ATTRS) unless it already is; returns whether it changed it. */
  async function disable(c: Client, entry: Entry): Promise<boolean> {
    if (isDisabled(entry)) return false;
    if (method === 'openldap-ppolicy') {
      await c.modify(
        entry.dn,
        new Change({
          operation: 'replace',
          modification: new Attribute({ type: 'pwdAccountLockedTime', values: [PERMANENT_LOCK] }),
        }),
      );
    } else {
      const uac = Number(first(entry.userAccountControl) ?? '512');
      await c.modify(
        entry.dn,
        new Change({
          operation: 'replace',
          modification: new Attribute({ type: 'userAccountControl', values: [String(uac | ACCOUNTDISABLE)] }),
        }),
      );
    }
    return true;
  }
  return { isDisabled, disable };
}

/** Lower-cased DN without spaces around separators, for a rough "is this under that base" check. */
function normDn(dn: string): string {
  return dn.toLowerCase().replace(/\s*([,=+])\s*/g, '$1');
}

/** True when `dn` is strictly below `base`. */
function isUnder(dn: string, base: string): boolean {
  const n = normDn(dn);
  const b = normDn(base);
  return n !== b && n.endsWith(`,${b}`);
}

/** `{SSHA}` hash of a password, as slapd stores and verifies it. */
function ssha(password: string): string {
  const salt = randomBytes(8);
  const digest = createHash('sha1').update(password).update(salt).digest();
  return `{SSHA}${Buffer.concat([digest, salt]).toString('base64')}`;
}

/** Generalized time (`20261125140300Z`, optionally with fractions) to epoch milliseconds. */
function generalizedTimeMs(v: string | undefined): number {
  const m = v?.match(/^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:[.,]\d+)?Z$/);
  if (!m) return NaN;
  const [, y, mo, d, h, mi, s] = m;
  return Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
}

/**
 * The directory reads matching needs: lookup by DN, one search per key, groups under `groupBaseDn`,
 * and what still gives access (`liveAccess`, per connector).
 */
function ldapDirectory(
  withClient: WithClient,
  cfg: Pick<LdapConnectorConfig, 'userBaseDn'> & { groupBaseDn?: string },
  liveAccess: (a: LdapAccount) => Promise<string | null>,
): AccountDirectory<LdapAccount> {
  return {
    lookup: (dn) => withClient('LDAP lookup', (c) => lookupUser(c, cfg, dn)),
    search: (queries, subject) => withClient('LDAP search', (c) => searchUsers(c, cfg, queries, subject)),
    ...(cfg.groupBaseDn
      ? {
          groupsOf: (a: LdapAccount) =>
            withClient('LDAP groups', async (c) =>
              (await groupsOf(c, cfg.groupBaseDn!, a.id)).map((g) => g.dn),
            ),
        }
      : {}),
    liveAccess,
  };
}

/** The groups under `groupBaseDn` that list `dn` as a member, with the attribute that does. */
async function groupsOf(c: Client, groupBaseDn: string, dn: string) {
  const { searchEntries } = await c.search(groupBaseDn, {
    scope: 'sub',
    filter: new OrFilter({
      filters: MEMBER_ATTRS.map((attribute) => new EqualityFilter({ attribute, value: dn })),
    }),
    attributes: ['dn', 'member', 'uniqueMember'],
  });
  return searchEntries.map((g) => ({
    dn: g.dn,
    attr: (g.uniqueMember !== undefined && [g.uniqueMember].flat().map(String).includes(dn)
      ? 'uniqueMember'
      : 'member') as MemberAttr,
  }));
}

/** Creates the LDAP connector (directory tier) for one catalog entry. */
export function createLdapConnector(
  cfg: LdapConnectorConfig,
  bindPassword: string,
  match: MatchContext,
): RevocationConnector<LdapAccount> {
  const withClient = clientFactory(cfg, bindPassword);
  const { isDisabled, disable } = disabler(cfg.disableMethod);
  const matcher = createMatcher(
    ldapDirectory(withClient, cfg, async (a) => (isDisabled(a.entry) ? null : 'account enabled')),
    match,
  );

  const connector: RevocationConnector<LdapAccount> = {
    executingSystem: `LDAP @ ${new URL(cfg.url).host}`,
    action: 'disable_account_remove_groups',
    find: matcher.find,
    audit: matcher.audit,
    async revoke(_subject, account) {
      return withClient('LDAP revoke', async (c) => {
        const user = await readEntry(c, account.id, USER_ATTRS);
        if (!user)
          return {
            changes: [],
            confirmation: { dn: account.id, exists: false },
            detail: 'account removed since it was matched',
          };
        const changes: string[] = [];
        if (await disable(c, user)) changes.push('account disabled');
        for (const g of await groupsOf(c, cfg.groupBaseDn, user.dn)) {
          if (await removeMember(c, g.dn, g.attr, user.dn, cfg.emptyGroupMember))
            changes.push(`removed from ${g.dn}`);
        }
        const after = await readEntry(c, user.dn, USER_ATTRS);
        if (!after)
          return { changes, confirmation: { exists: false }, detail: 'account removed during revocation' };
        if (!isDisabled(after))
          throw new ConfirmationMismatchError('directory still shows the account enabled');
        const remaining = await groupsOf(c, cfg.groupBaseDn, after.dn);
        if (remaining.length > 0)
          throw new ConfirmationMismatchError(`still a member of ${remaining.map((g) => g.dn).join(', ')}`);
        return {
          changes,
          confirmation: {
            dn: after.dn,
            disabled: true,
            method: cfg.disableMethod,
            groups: 0,
          },
          detail: `account disabled (${cfg.disableMethod}), member of no group`,
        };
      });
    },
  };

  const ownedFilter = cfg.ownedAccountFilter;
  if (!ownedFilter) return connector;

  const isUnderUserBase = (dn: string) => isUnder(dn, cfg.userBaseDn);

  /**
   * OpenLDAP only: replaces the service account's password with a random one that is never kept, so
   * whoever knew the old one (the leaver) cannot bind even where no lockout policy applies to the entry
   * (service accounts often get a policy without `pwdLockout`). Returns the new password, for a bind
   * check, or null when the entry cannot hold a password (e.g. `account` without `simpleSecurityObject`).
   */
  async function rotatePassword(c: Client, dn: string): Promise<string | null> {
    const secret = randomBytes(24).toString('base64url');
    try {
      await c.modify(
        dn,
        new Change({
          operation: 'replace',
          modification: new Attribute({ type: 'userPassword', values: [ssha(secret)] }),
        }),
      );
      return secret;
    } catch (e) {
      if (e instanceof ObjectClassViolationError) return null;
      throw e;
    }
  }

  /** True when a bind as `dn` with `password` is refused (the lock is enforced). */
  async function bindRefused(dn: string, password: string): Promise<boolean> {
    const timeout = durationMs(cfg.timeout);
    const probe = new Client({ url: cfg.url, timeout, connectTimeout: timeout });
    try {
      await probe.bind(dn, password);
      return false;
    } catch (e) {
      if (e instanceof InvalidCredentialsError) return true;
      throw e;
    } finally {
      await probe.unbind().catch(() => undefined);
    }
  }

  connector.discoverOwned = async (
    subject: Subject,
    account: LdapAccount | null,
  ): Promise<OwnedCredential[]> =>
    withClient('LDAP owned accounts', async (c) => {
      let dn: string | undefined;
      if (ownedFilter.includes('{dn}')) {
        // A filter on the leaver's DN cannot match anything without their entry: nothing to find
        // (filters on {employeeId} / {workEmail} keep working without the entry).
        if (!account) return [];
        dn = account.id;
      }
      const { searchEntries } = await c.search(cfg.userBaseDn, {
        scope: 'sub',
        filter: renderFilter(ownedFilter, { ...subject, dn }),
        attributes: ['dn', 'cn', 'uid'],
        paged: true,
      });
      return searchEntries
        .filter((e) => dn === undefined || normDn(e.dn) !== normDn(dn))
        .map((e) => ({
          id: e.dn,
          kind: 'LDAP service account',
          name: first(e.cn) ?? first(e.uid) ?? e.dn,
        }));
    });

  connector.revokeOwned = async (subject: Subject, item: OwnedCredential): Promise<RevokeResult> =>
    withClient('LDAP owned account revoke', async (c) => {
      const dn = item.id;
      if (!isUnderUserBase(dn))
        throw new TargetRejectedError(`${dn} is not under connector.userBaseDn (${cfg.userBaseDn})`);
      const entry = await readEntry(c, dn, LOCK_ATTRS);
      if (!entry)
        return {
          changes: [],
          confirmation: { dn, exists: false },
          detail: `service account ${item.name} no longer exists (confirmed by search)`,
        };
      const changes: string[] = [];
      let secret: string | null = null;
      if (cfg.disableMethod === 'openldap-ppolicy') {
        // Rotate first: a password change may clear a ppolicy lock, so the lock goes on afterwards. A
        // password changed after the termination was confirmed is ours from an earlier attempt.
        // (pwdChangedTime has whole seconds, hence the confirmation instant rounded down.)
        const rotatedAt = generalizedTimeMs(first(entry.pwdChangedTime));
        const since = Math.floor(Date.parse(subject.confirmedAt) / 1000) * 1000;
        if (!isDisabled(entry) || !(rotatedAt >= since)) {
          secret = await rotatePassword(c, dn);
          if (secret !== null) changes.push('password replaced');
        }
      }
      const current = secret === null ? entry : await readEntry(c, dn, LOCK_ATTRS);
      if (current && (await disable(c, current))) changes.push('account disabled');

      const after = await readEntry(c, dn, LOCK_ATTRS);
      if (!after)
        return {
          changes,
          confirmation: { dn, exists: false },
          detail: `service account ${item.name} removed during revocation`,
        };
      if (!isDisabled(after))
        throw new ConfirmationMismatchError(`directory still shows service account ${dn} enabled`);
      const confirmation: Record<string, unknown> = {
        dn,
        disabled: true,
        method: cfg.disableMethod,
      };
      let detail = `service account ${item.name} disabled (${cfg.disableMethod})`;
      if (secret !== null) {
        const refused = await bindRefused(dn, secret);
        confirmation.passwordReplaced = true;
        confirmation.bindRefused = refused;
        detail += refused
          ? ', password replaced, bind refused'
          : '; no lockout policy applies to it, but its password was replaced with one nobody holds';
      }
      return { changes, confirmation, detail };
    });

  connector.auditOwned = async (item: OwnedCredential): Promise<string | null> =>
    withClient('LDAP owned account audit', async (c) => {
      const entry = await readEntry(c, item.id, LOCK_ATTRS);
      return entry && !isDisabled(entry) ? `service account ${item.name} is enabled` : null;
    });

  return connector;
}

/** Creates the remote-access connector: membership of `cfg.groups` removed, the account left alone. */
export function createLdapGroupConnector(
  cfg: LdapGroupConnectorConfig,
  bindPassword: string,
  match: MatchContext,
): RevocationConnector<LdapAccount> {
  const withClient = clientFactory(cfg, bindPassword);

  /** For each configured group, which attributes hold the user; a missing group is a config mistake. */
  async function memberships(c: Client, userDn: string) {
    const out: { dn: string; attrs: MemberAttr[] }[] = [];
    for (const dn of cfg.groups) {
      try {
        out.push({ dn, attrs: await memberAttrs(c, dn, userDn) });
      } catch (e) {
        if (e instanceof NoSuchObjectError)
          throw new TargetRejectedError(`group ${dn} (connector.groups) does not exist`);
        throw e;
      }
    }
    return out;
  }

  const matcher = createMatcher(
    ldapDirectory(withClient, cfg, (a) =>
      withClient('LDAP remote-access audit', async (c) => {
        const held = (await memberships(c, a.id)).filter((g) => g.attrs.length > 0);
        return held.length > 0 ? `member of ${held.map((g) => g.dn).join(', ')}` : null;
      }),
    ),
    match,
  );

  return {
    executingSystem: `LDAP @ ${new URL(cfg.url).host}`,
    action: 'remove_remote_access_groups',
    find: matcher.find,
    audit: matcher.audit,
    async revoke(_subject, account) {
      return withClient('LDAP remote-access revoke', async (c) => {
        const dn = account.id;
        // Every group is checked (and must exist) before anything changes.
        const before = await memberships(c, dn);
        const changes: string[] = [];
        for (const g of before) {
          for (const attr of g.attrs) {
            if (await removeMember(c, g.dn, attr, dn, cfg.emptyGroupMember))
              changes.push(`removed from ${g.dn}`);
          }
        }
        const still = (await memberships(c, dn)).filter((g) => g.attrs.length > 0);
        if (still.length > 0)
          throw new ConfirmationMismatchError(`still a member of ${still.map((g) => g.dn).join(', ')}`);
        return {
          changes,
          confirmation: { dn, groupsChecked: cfg.groups, memberOf: [] },
          detail: `member of none of the ${cfg.groups.length} remote-access group(s)`,
        };
      });
    },
  };
}
