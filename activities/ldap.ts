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
 * policy with `pwdLockout: TRUE` applies to the entry) or, for Active Directory, the ACCOUNTDISABLE bit
 * in `userAccountControl` with `accountExpires`, every group and an optional move (ldap-ad.ts).
 * `groupOfNames` / `groupOfUniqueNames` must keep one member: when the leaver is the last,
 * `emptyGroupMember` takes their place. Connections and transport security: ldap-connection.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  AndFilter,
  Attribute,
  Change,
  EqualityFilter,
  InvalidCredentialsError,
  NoSuchObjectError,
  ObjectClassViolationError,
  type Client,
  type Entry,
  type Filter,
} from 'ldapts';
import type { LdapConnectorConfig, LdapGroupConnectorConfig } from '../config/catalog';
import type { OwnedCredential, RevocationConnector, RevokeResult, Subject, TargetAccount } from './connector';
import { ConfirmationMismatchError, TargetRejectedError } from './errors';
import {
  ACCOUNTDISABLE,
  AD_OWNED_FILTER,
  adGroupsForProtection,
  revokeAdAccount,
  revokeAdOwned,
  type BindProbe,
} from './ldap-ad';
import { adBindCode, ldapConnection, mapLdapError, type LdapServerConfig } from './ldap-connection';
import { createLdapScope } from './ldap-scope';
import {
  BINARY_ATTRS,
  first,
  groupsOf,
  isUnder,
  memberAttrs,
  normDn,
  readEntry,
  removeMember,
  type MemberAttr,
} from './ldap-entries';
import { createMatcher, type AccountDirectory, type KeyQuery, type MatchContext } from './matching';

/** The OpenLDAP ppolicy value meaning "locked by an administrator, permanently". */
export const PERMANENT_LOCK = '000001010000Z';

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

type WithClient = <T>(what: string, fn: (c: Client) => Promise<T>) => Promise<T>;

/**
 * Runs `fn` on a fresh connection (TLS as the entry says) bound as the connector's service DN; errors
 * become domain errors. `probe` tries a bind as someone else on a connection of its own.
 */
function clientFactory(
  cfg: LdapServerConfig,
  bindPassword: string,
  env: NodeJS.ProcessEnv,
): { withClient: WithClient; probe: BindProbe } {
  const conn = ldapConnection(cfg, env);
  const withClient: WithClient = async (what, fn) => {
    let client: Client | null = null;
    try {
      client = await conn.open();
      await client.bind(cfg.bindDn, bindPassword);
      return await fn(client);
    } catch (e) {
      throw mapLdapError(e, what);
    } finally {
      await client?.unbind().catch(() => undefined);
    }
  };
  const probe: BindProbe = async (dn, password) => {
    let client: Client | null = null;
    try {
      client = await conn.open();
      await client.bind(dn, password);
      return { refused: false, code: null };
    } catch (e) {
      if (e instanceof InvalidCredentialsError) return { refused: true, code: adBindCode(e) };
      throw mapLdapError(e, 'LDAP bind check');
    } finally {
      await client?.unbind().catch(() => undefined);
    }
  };
  return { withClient, probe };
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

/** Where users are searched: `userBaseDn`, and a `disabledOu` outside it (moved leavers stay found). */
function userBases(cfg: { userBaseDn: string; disabledOu?: string | undefined }): string[] {
  const ou = cfg.disabledOu;
  const apart = ou && normDn(ou) !== normDn(cfg.userBaseDn) && !isUnder(ou, cfg.userBaseDn);
  return apart ? [cfg.userBaseDn, ou] : [cfg.userBaseDn];
}

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

type UserBaseConfig = Pick<LdapConnectorConfig, 'userBaseDn'> & {
  disabledOu?: string | undefined;
  disableMethod?: LdapConnectorConfig['disableMethod'];
};

/** An Active Directory user account of a person (`objectCategory=person` leaves computers out). */
const AD_PERSON = [
  new EqualityFilter({ attribute: 'objectCategory', value: 'person' }),
  new EqualityFilter({ attribute: 'objectClass', value: 'user' }),
];

/**
 * The user entries each key finds under `userBaseDn` (and a `disabledOu` outside it), one search per
 * key and base over one connection:
 * equality on the key's attribute, matched by the server's own rules, or a catalog filter.
 */
async function searchUsers(
  c: Client,
  cfg: UserBaseConfig,
  queries: KeyQuery[],
  subject: Subject,
): Promise<LdapAccount[][]> {
  const ad = cfg.disableMethod === 'ad-useraccountcontrol';
  const out: LdapAccount[][] = [];
  for (const q of queries) {
    let filter: string | Filter;
    if ('filter' in q.key) filter = renderFilter(q.key.filter, subject);
    else {
      const equality = new EqualityFilter({ attribute: q.key.attribute, value: q.value });
      // AD: people's user accounts only, not a contact or group with the same mail, nor a computer.
      filter = ad ? new AndFilter({ filters: [...AD_PERSON, equality] }) : equality;
    }
    const found: LdapAccount[] = [];
    for (const base of userBases(cfg)) {
      const { searchEntries } = await c
        .search(base, {
          scope: 'sub',
          filter,
          attributes: USER_ATTRS,
          sizeLimit: KEY_SIZE_LIMIT,
          explicitBufferAttributes: BINARY_ATTRS,
        })
        .catch((e: unknown) => {
          if (!(e instanceof NoSuchObjectError)) throw e;
          const field = base === cfg.userBaseDn ? 'userBaseDn' : 'disabledOu';
          throw new TargetRejectedError(`connector.${field} ${base} does not exist`);
        });
      found.push(...searchEntries.map(accountOf));
    }
    out.push(found);
  }
  return out;
}

/** An entry by DN under a user base (a DN elsewhere is refused: it is no user of this directory). */
async function lookupUser(c: Client, cfg: UserBaseConfig, dn: string): Promise<LdapAccount | null> {
  if (!userBases(cfg).some((b) => isUnder(dn, b)))
    throw new TargetRejectedError(`${dn} is not under connector.userBaseDn (${cfg.userBaseDn})`);
  const entry = await readEntry(c, dn, USER_ATTRS);
  return entry ? accountOf(entry) : null;
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
 * The directory reads matching needs: lookup by DN, one search per key, the groups protection looks at
 * (under `groupBaseDn`; for Active Directory also `memberOf` and the primary group), and what still
 * gives access (`liveAccess`, per connector).
 */
function ldapDirectory(
  withClient: WithClient,
  cfg: UserBaseConfig & { groupBaseDn?: string },
  liveAccess: (a: LdapAccount) => Promise<string | null>,
): AccountDirectory<LdapAccount> {
  const groupBaseDn = cfg.groupBaseDn;
  const ad = cfg.disableMethod === 'ad-useraccountcontrol';
  return {
    lookup: (dn) => withClient('LDAP lookup', (c) => lookupUser(c, cfg, dn)),
    search: (queries, subject) => withClient('LDAP search', (c) => searchUsers(c, cfg, queries, subject)),
    ...(groupBaseDn
      ? {
          groupsOf: (a: LdapAccount) =>
            withClient('LDAP groups', async (c) =>
              ad
                ? adGroupsForProtection(c, groupBaseDn, a.id)
                : (await groupsOf(c, groupBaseDn, a.id)).map((g) => g.dn),
            ),
        }
      : {}),
    liveAccess,
  };
}

/** Creates the LDAP connector (directory tier) for one catalog entry. */
export function createLdapConnector(
  cfg: LdapConnectorConfig,
  bindPassword: string,
  match: MatchContext,
  env: NodeJS.ProcessEnv = process.env,
): RevocationConnector<LdapAccount> {
  const { withClient, probe } = clientFactory(cfg, bindPassword, env);
  const ad = cfg.disableMethod === 'ad-useraccountcontrol';
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
    async revoke(subject, account) {
      if (ad) return withClient('LDAP revoke', (c) => revokeAdAccount(c, cfg, subject, account.id));
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

  connector.scope = createLdapScope(cfg, {
    withClient,
    render: renderFilter,
    isDisabled,
    lockAttrs: LOCK_ATTRS,
  });

  const ownedFilter = cfg.ownedAccountFilter ?? (ad ? AD_OWNED_FILTER : undefined);
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
        attributes: ['dn', 'cn', 'uid', 'sAMAccountName'],
        paged: true,
      });
      return searchEntries
        .filter((e) => dn === undefined || normDn(e.dn) !== normDn(dn))
        .map((e) => ({
          id: e.dn,
          kind: ad ? 'AD service account' : 'LDAP service account',
          name: first(e.cn) ?? first(e.uid) ?? first(e.sAMAccountName) ?? e.dn,
        }));
    });

  connector.revokeOwned = async (subject: Subject, item: OwnedCredential): Promise<RevokeResult> =>
    withClient('LDAP owned account revoke', async (c) => {
      const dn = item.id;
      if (!isUnderUserBase(dn))
        throw new TargetRejectedError(`${dn} is not under connector.userBaseDn (${cfg.userBaseDn})`);
      if (ad) return revokeAdOwned(c, cfg, subject, item, probe);
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
        const { refused } = await probe(dn, secret);
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
  env: NodeJS.ProcessEnv = process.env,
): RevocationConnector<LdapAccount> {
  const { withClient } = clientFactory(cfg, bindPassword, env);

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
