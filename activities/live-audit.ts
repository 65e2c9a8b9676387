/**
 * The live access audit of one system, shared by the verification checkpoint and `offboard audit`:
 * every account any catalog key (or the known account id) finds is asked whether it still gives access
 * (an enabled account, MFA methods still registered, a remote-access group), and so is every credential
 * the leaver was found to own. Anything live is named with the keys that found it.
 */
import type { AccessAuditRow } from '../contract';
import { withTimeout } from '../lib/timeout';
import type { LiveAccount, OwnedCredential, RevocationConnector, Subject } from './connector';

/** One account or owned credential still giving access, in words. */
export function describeLive(a: LiveAccount): string {
  const by = a.by.length ? ` found by ${a.by.join(', ')}` : '';
  return `${a.name} (${a.id})${by}: ${a.why}`;
}

/** Audits one system within `timeoutMs`; a failure is an `error` row, never a clean one. */
export async function auditSystem(
  sys: { id: string; name: string },
  connector: RevocationConnector,
  subject: Subject,
  owned: OwnedCredential[],
  timeoutMs: number,
): Promise<AccessAuditRow> {
  const base = { systemId: sys.id, systemName: sys.name };
  try {
    const [finding, ownedLive] = await withTimeout(
      Promise.all([
        connector.audit(subject),
        Promise.all(
          owned.map(async (item): Promise<LiveAccount | null> => {
            const why = connector.auditOwned ? await connector.auditOwned(item) : null;
            return why === null ? null : { id: item.id, name: item.name, by: ['owned credential'], why };
          }),
        ),
      ]),
      timeoutMs,
    );
    const live = [...finding.active, ...ownedLive.filter((x): x is LiveAccount => x !== null)];
    if (live.length === 0)
      return {
        ...base,
        active: 'no',
        detail: `${finding.found} account(s) found by ${finding.keys.join(', ') || 'no key'}, none active`,
        accounts: [],
      };
    return { ...base, active: 'yes', detail: live.map(describeLive).join('; '), accounts: live };
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    return { ...base, active: 'error', detail: msg.slice(0, 300) };
  }
}
