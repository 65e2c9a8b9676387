/**
 * Catalogs for the benchmarks, pointing at the run's stand-ins. The default revocation set is the
 * demo catalog's API systems without LDAP: Entra ID account (Graph; with the search for app
 * registrations the leaver owns), Entra MFA methods (Graph), VPN, CRM and wiki (SCIM). LDAP is left
 * out: it is a real slapd, not a stand-in, and a per-employee `ldapadd` would dominate seeding.
 */
import { stringify } from 'yaml';
import { GraphStandIn } from '../../standins/graph';
import type { StandIns } from '../../test/support/harness';

export interface RateLimit {
  revocationsPerSecond: number;
  maxConcurrent: number;
}

export type SystemId = 'entra' | 'entra-mfa' | 'vpn' | 'crm' | 'wiki';
export const ALL_SYSTEMS: SystemId[] = ['entra', 'entra-mfa', 'vpn', 'crm', 'wiki'];

const SCIM_TOKEN_ENV: Record<string, string> = {
  vpn: 'SCIM_TOKEN_VPN',
  crm: 'SCIM_TOKEN_CRM',
  wiki: 'SCIM_TOKEN_WIKI',
};

export interface CatalogOptions {
  systems?: SystemId[];
  /** Per-system rate limit (none when absent). */
  rateLimits?: Partial<Record<SystemId, RateLimit>>;
  /** Hours until the verification report (24 = the production default). */
  reportAfterHours?: number;
  timeout?: string;
}

export function benchCatalogYaml(s: StandIns, opts: CatalogOptions = {}): string {
  const systems = opts.systems ?? ALL_SYSTEMS;
  const retry = { maximumAttempts: 5, initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s' };
  const person = (who: string) => ({ name: `${who} owner`, email: `${who}-owner@example.com` });
  const entra = (scope: string) => ({
    kind: 'entra',
    graphBaseUrl: s.graph.url,
    authorityUrl: s.graph.url,
    tenantId: 'tenant-test',
    clientId: 'client-test',
    clientSecretEnv: 'ENTRA_CLIENT_SECRET',
    caFile: s.caFile,
    scope,
  });
  const common = (id: SystemId) => ({
    id,
    integration: 'api',
    sso: false,
    owner: person(id),
    escalationOwner: person(`${id}-escalation`),
    timeout: opts.timeout ?? '30s',
    retry,
    ...(opts.rateLimits?.[id] ? { rateLimit: opts.rateLimits[id] } : {}),
  });
  const def: Record<SystemId, Record<string, unknown>> = {
    entra: {
      ...common('entra'),
      name: 'Microsoft Entra ID (stand-in)',
      category: 'identity',
      tier: 'identity',
      privileged: true,
      ownedCredentials: { integration: 'api' },
      connector: entra('account'),
    },
    'entra-mfa': {
      ...common('entra-mfa'),
      name: 'Entra MFA methods (stand-in)',
      category: 'identity',
      tier: 'mfa',
      privileged: true,
      connector: entra('authentication-methods'),
    },
    vpn: {
      ...common('vpn'),
      name: 'VPN (SCIM stand-in)',
      category: 'infrastructure',
      tier: 'vpn',
      privileged: true,
      connector: { kind: 'scim', baseUrl: s.scim.baseUrl('vpn'), tokenEnv: SCIM_TOKEN_ENV.vpn },
    },
    crm: {
      ...common('crm'),
      name: 'CRM (SCIM stand-in)',
      category: 'business',
      tier: 'application',
      connector: { kind: 'scim', baseUrl: s.scim.baseUrl('crm'), tokenEnv: SCIM_TOKEN_ENV.crm },
    },
    wiki: {
      ...common('wiki'),
      name: 'Wiki (SCIM stand-in)',
      category: 'business',
      tier: 'application',
      connector: { kind: 'scim', baseUrl: s.scim.baseUrl('wiki'), tokenEnv: SCIM_TOKEN_ENV.wiki },
    },
  };
  return stringify({
    version: 1,
    organization: {
      timeZone: 'Europe/Berlin',
      hr: { name: 'HR Team', email: 'hr-team@example.com' },
      it: { name: 'IT Team', email: 'it-team@example.com' },
    },
    verification: {
      reportAfterHours: opts.reportAfterHours ?? 24,
      redEscalationAfterHours: Math.max(48, opts.reportAfterHours ?? 24),
    },
    systems: systems.map((id) => def[id]),
  });
}

/** Seeds one employee in the stand-ins of `systems` (Graph user with two MFA methods, SCIM users). */
export function seedEmployee(s: StandIns, employeeId: string, systems: SystemId[] = ALL_SYSTEMS): void {
  const workEmail = `${employeeId.toLowerCase()}@example.com`;
  if (systems.includes('entra') || systems.includes('entra-mfa')) {
    const { authMethods, PHONE_METHOD_IDS, SKUS } = GraphStandIn;
    s.graph.seedUser({
      userPrincipalName: workEmail,
      displayName: `Employee ${employeeId}`,
      authenticationMethods: [
        authMethods.microsoftAuthenticator(),
        authMethods.phone('mobile', '+1 5550100'),
      ],
      defaultMethodId: PHONE_METHOD_IDS.mobile,
      groups: [s.graph.seedGroup({ displayName: `${employeeId} team` })],
      licenses: [Object.keys(SKUS)[0]!],
      ownedApplications: [],
    });
  }
  for (const app of ['vpn', 'crm', 'wiki'] as const)
    if (systems.includes(app)) s.scim.seedUser(app, workEmail);
}
