/**
 * LDAP and Active Directory during a notice period (`notice: scope`): the leaver is removed at once
 * from the groups the catalog marks privileged (`privilegedGroups` DNs, and the groups a
 * `privilegedGroupFilter` finds under `groupBaseDn`); the account stays enabled and keeps its other
 * groups until the last day ends. Read back before the step is green. A directory bind holds no
 * session, so the reduced groups apply at the leaver's next bind or lookup.
 */
import { NoSuchObjectError, type Client } from 'ldapts';
import type { LdapConnectorConfig } from '../config/catalog';
import type { RevokeResult, Subject } from './connector';
import { ConfirmationMismatchError, TargetRejectedError } from './errors';
import { memberAttrs, normDn, readEntry, removeMember, type MemberAttr } from './ldap-entries';

type WithClient = <T>(what: string, fn: (c: Client) => Promise<T>) => Promise<T>;

/** What the scope needs of the LDAP connector. */
export interface LdapScopeDeps {
  withClient: WithClient;
  /** Fills `{dn}`, `{employeeId}` and `{workEmail}` (escaped) in the catalog's filter. */
  render: (template: string, values: { employeeId: string; workEmail: string; dn: string }) => string;
  isDisabled: (entry: Awaited<ReturnType<typeof readEntry>> & object) => boolean;
  lockAttrs: string[];
}

/** Creates the scope call of one LDAP connector. */
export function createLdapScope(cfg: LdapConnectorConfig, deps: LdapScopeDeps) {
  const { withClient, render, isDisabled, lockAttrs } = deps;

  /** The privileged groups: the listed DNs (each must exist) and those the filter finds. */
  async function privilegedGroups(c: Client, who: Subject, dn: string): Promise<string[]> {
    const out = [...(cfg.privilegedGroups ?? [])];
    if (cfg.privilegedGroupFilter) {
      const { searchEntries } = await c.search(cfg.groupBaseDn, {
        scope: 'sub',
        filter: render(cfg.privilegedGroupFilter, {
          employeeId: who.employeeId,
          workEmail: who.workEmail,
          dn,
        }),
        attributes: ['1.1'],
      });
      out.push(...searchEntries.map((e) => e.dn));
    }
    const seen = new Set<string>();
    return out.filter((g) => !seen.has(normDn(g)) && !!seen.add(normDn(g)));
  }

  /** For each privileged group, the attributes that hold the leaver. */
  async function held(c: Client, who: Subject, dn: string): Promise<{ dn: string; attrs: MemberAttr[] }[]> {
    const out: { dn: string; attrs: MemberAttr[] }[] = [];
    for (const g of await privilegedGroups(c, who, dn)) {
      try {
        out.push({ dn: g, attrs: await memberAttrs(c, g, dn) });
      } catch (e) {
        if (e instanceof NoSuchObjectError)
          throw new TargetRejectedError(`privileged group ${g} (connector.privilegedGroups) does not exist`);
        throw e;
      }
    }
    return out;
  }

  return async function scope(subject: Subject, account: { id: string }): Promise<RevokeResult> {
    return withClient('LDAP scope', async (c) => {
      const dn = account.id;
      // Every listed group is checked (and must exist) before anything changes.
      const before = await held(c, subject, dn);
      const changes: string[] = [];
      for (const g of before)
        for (const attr of g.attrs)
          if (await removeMember(c, g.dn, attr, dn, cfg.emptyGroupMember))
            changes.push(`removed from privileged group ${g.dn}`);
      const still = (await held(c, subject, dn)).filter((g) => g.attrs.length > 0);
      if (still.length > 0)
        throw new ConfirmationMismatchError(
          `still a member of privileged group ${still.map((g) => g.dn).join(', ')}`,
        );
      const entry = await readEntry(c, dn, lockAttrs);
      if (!entry) throw new ConfirmationMismatchError('the account disappeared while it was being scoped');
      const enabled = !isDisabled(entry);
      return {
        changes,
        confirmation: { dn, privilegedGroupsChecked: before.map((g) => g.dn), memberOf: [], enabled },
        detail:
          `scoped for the notice period: member of none of the ${before.length} privileged group(s)` +
          `${changes.length ? ` (removed from ${changes.length})` : ''}; account ` +
          `${enabled ? 'stays enabled' : 'is DISABLED'}; a bind holds no session, the change applies at once`,
      };
    });
  };
}
