/** Turns the catalog into the ordered revocation plan of one departure. */
import { REVOCATION_TIERS, type PlannedStep } from '../contract';
import type { Catalog, CatalogSystem } from '../config/catalog';
import type { ConnectorRegistry } from './connectors';

/**
 * Which catalog systems get a revocation step: every identity/directory/VPN/MFA system, and every
 * application that SSO does not cover or that has an API to deprovision (SSO disable alone never counts
 * as complete revocation where an API can confirm more).
 */
export function needsRevocationStep(s: CatalogSystem): boolean {
  if (s.tier !== 'application') return true;
  return !s.sso || s.integration === 'api';
}

const ACTION_BY_INTEGRATION = { ticket: 'service_ticket', manual: 'manual_task' } as const;

/** The ordered plan: tiers in PRODUCT order, then catalog order within a tier. */
export function buildPlan(catalog: Catalog, connectors: ConnectorRegistry): PlannedStep[] {
  const systems = catalog.systems
    .map((s, i) => ({ s, i }))
    .filter(({ s }) => needsRevocationStep(s))
    .sort((a, b) => REVOCATION_TIERS.indexOf(a.s.tier) - REVOCATION_TIERS.indexOf(b.s.tier) || a.i - b.i);
  return systems.map(({ s }, ordinal) => {
    const connector = connectors.get(s.id);
    return {
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
      ordinal,
      startToCloseTimeout: s.timeout,
      retry: { ...s.retry },
      slaHours: s.integration === 'api' ? null : (s.ticketSlaHours ?? null),
    };
  });
}
