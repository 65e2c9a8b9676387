/** Turns the catalog into the ordered revocation plan of one departure. */
import { REVOCATION_TIERS, systemTaskQueue, type OwnedCredentialRef, type PlannedStep } from '../contract';
import type { Catalog, CatalogSystem } from '../config/catalog';
import { noticeActionOf } from '../config/notice';
import type { ConnectorRegistry } from './connectors';

const ACTION_BY_INTEGRATION = { ticket: 'service_ticket', manual: 'manual_task' } as const;
export const DISCOVER_OWNED_ACTION = 'discover_owned_credentials';
/** The action of a notice period's scope step (`<systemId>/scope_access`). */
export const SCOPE_ACTION = 'scope_access';

function retryOf(s: CatalogSystem): PlannedStep['retry'] {
  return { ...s.retry };
}

/** The queue a system's API calls run on: its own when it has a rate limit. */
function queueOf(s: CatalogSystem, baseTaskQueue: string): string | null {
  return s.rateLimit ? systemTaskQueue(baseTaskQueue, s.id) : null;
}

/**
 * The ordered plan: identity, directory, VPN and MFA tiers in PRODUCT order (catalog order within a
 * tier), then one step per system that can hold credentials the leaver owns, then the applications.
 * Every catalog system gets a step, SSO-covered ones included: disabling the SSO account does not end
 * an application's local sessions, API tokens or local logins, so it never counts as revocation.
 * With a notice period (`notice`), a system whose notice action is `scope` gets a scope step before
 * its revocation; each step says whether it runs at once (`atOnce`) or at the end of the last day.
 */
export function buildPlan(
  catalog: Catalog,
  connectors: ConnectorRegistry,
  baseTaskQueue: string,
  options: PlanOptions = { localSteps: false },
  notice = false,
): PlannedStep[] {
  const systems = catalog.systems
    .map((s, i) => ({ s, i }))
    .sort((a, b) => REVOCATION_TIERS.indexOf(a.s.tier) - REVOCATION_TIERS.indexOf(b.s.tier) || a.i - b.i)
    .map(({ s }) => s);
  const main = (s: CatalogSystem): Omit<PlannedStep, 'ordinal'> => {
    const connector = connectors.get(s.id);
    return {
      stepId: s.id,
      kind: 'revoke',
      systemId: s.id,
      systemName: s.name,
      tier: s.tier,
      action:
        s.integration === 'api' ? (connector?.action ?? 'revoke') : ACTION_BY_INTEGRATION[s.integration],
      integration: s.integration,
      executingSystem:
        s.integration === 'api'
          ? (connector?.executingSystem ?? s.connector.kind)
          : `ticket to ${s.owner.name}`,
      startToCloseTimeout: s.timeout,
      retry: retryOf(s),
      slaHours: s.integration === 'api' ? null : (s.ticketSlaHours ?? null),
      privileged: s.privileged,
      atOnce: noticeActionOf(s) === 'revoke',
      taskQueue: s.integration === 'api' ? queueOf(s, baseTaskQueue) : null,
      owned: null,
    };
  };
  /** A notice period's scope step: the account reduced at once, revoked when the last day ends. */
  const scope = (s: CatalogSystem): Omit<PlannedStep, 'ordinal'> => ({
    ...main(s),
    stepId: `${s.id}/${SCOPE_ACTION}`,
    kind: 'scope',
    action: SCOPE_ACTION,
    atOnce: true,
  });
  const scoped = (s: CatalogSystem) => notice && noticeActionOf(s) === 'scope';
  const withScope = (s: CatalogSystem) => (scoped(s) ? [scope(s), main(s)] : [main(s)]);
  const discover = (s: CatalogSystem): Omit<PlannedStep, 'ordinal'> => ({
    stepId: `${s.id}/${DISCOVER_OWNED_ACTION}`,
    kind: 'discover_owned',
    systemId: s.id,
    systemName: s.name,
    tier: s.tier,
    action: DISCOVER_OWNED_ACTION,
    integration: 'api',
    executingSystem: connectors.get(s.id)?.executingSystem ?? s.connector.kind,
    startToCloseTimeout: s.timeout,
    retry: retryOf(s),
    slaHours: null,
    privileged: true,
    atOnce: true,
    taskQueue: queueOf(s, baseTaskQueue),
    owned: null,
  });
  const steps = [
    ...systems.filter((s) => s.tier !== 'application').flatMap(withScope),
    ...catalog.systems.filter((s) => s.ownedCredentials).map(discover),
    ...systems.filter((s) => s.tier === 'application').flatMap(withScope),
  ];
  return steps.map((p, ordinal) => withLocal({ ...p, ordinal }, options));
}

/** How the plan's steps are to be run. */
export interface PlanOptions {
  /**
   * Run steps as local activities (`PlannedStep.local`), except those of rate-limited systems: their
   * rate is enforced by Temporal on their own task queue, which only an ordinary activity goes through.
   */
  localSteps: boolean;
}

function withLocal(p: PlannedStep, options: PlanOptions): PlannedStep {
  return options.localSteps && p.taskQueue === null ? { ...p, local: true } : p;
}

/** The step that revokes one owned credential found by `discover`. */
export function ownedCredentialStep(
  s: CatalogSystem,
  taskQueue: string | null,
  item: OwnedCredentialRef,
  ordinal: number,
  executingSystem: string,
  options: PlanOptions = { localSteps: false },
): PlannedStep {
  const viaApi = s.ownedCredentials?.integration === 'api';
  const action = `revoke_owned:${item.id}`;
  return withLocal(
    {
      stepId: `${s.id}/${action}`,
      kind: 'revoke_owned',
      systemId: s.id,
      systemName: `${s.name}: ${item.kind} ${item.name}`,
      tier: 'application',
      action,
      integration: viaApi ? 'api' : 'ticket',
      executingSystem: viaApi ? executingSystem : `ticket to ${s.owner.name}`,
      ordinal,
      startToCloseTimeout: s.timeout,
      retry: retryOf(s),
      slaHours: viaApi ? null : (s.ownedCredentials?.ticketSlaHours ?? 24),
      privileged: true,
      atOnce: true,
      taskQueue: viaApi ? taskQueue : null,
      owned: item,
    },
    options,
  );
}
