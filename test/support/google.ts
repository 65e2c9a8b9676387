/**
 * Fixtures of the Google Workspace tests (test/google.test.ts): a service account key pair, the catalog
 * of a Google identity entry and MFA entry pointing at the stand-in, and a leaver with everything
 * Google Workspace can hold, with their manager.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { Subject } from '../../activities/connector';
import type { GoogleStandIn } from '../../standins/google';

export const SA = 'offboard@offboard-test.iam.gserviceaccount.com';
/** An RSA key pair such as a service account's. */
export const pair = () => generateKeyPairSync('rsa', { modulusLength: 2048 });
export const hex = () => randomBytes(3).toString('hex');
export const subjectOf = (employeeId: string, workEmail: string, managerEmail: string | null): Subject => ({
  departureId: `dep_${hex()}`,
  employeeId,
  employeeName: 'Dana Reyes',
  workEmail,
  confirmedAt: new Date(Date.now() - 60_000).toISOString(),
  managerEmail,
});

/** Two entries (identity, MFA) on the stand-in at `url`; `extra` adds lines to the connector. */
export const catalogYaml = (url: string, extra = '', wait = '3s') => `
version: 1
organization:
  hr: { name: HR, email: hr@example.com }
  it: { name: IT, email: it@example.com }
systems:
  - id: google
    name: Google Workspace
    category: identity
    tier: identity
    integration: api
    sso: false
    owner: { name: Workspace Team, email: workspace@example.com }
    escalationOwner: { name: CISO, email: ciso@example.com }
    protected: { accounts: [break-glass@example.com] }
    connector: &google
      kind: google
      serviceAccountEmail: ${SA}
      privateKeyEnv: GOOGLE_SA_KEY
      adminEmail: admin@example.com
      adminUrl: "${url}"
      gmailUrl: "${url}"
      tokenUrl: "${url}/token"
      transferWait: ${wait}${extra}
  - id: google-mfa
    name: Google 2-step verification
    category: identity
    tier: mfa
    integration: api
    sso: false
    owner: { name: Workspace Team, email: workspace@example.com }
    escalationOwner: { name: CISO, email: ciso@example.com }
    connector: { <<: *google, scope: mfa }
`;

/** A leaver with everything Google Workspace can hold, and their manager. */
export function seedLeaver(g: GoogleStandIn, o: { manager?: boolean } = {}) {
  const email = `dana.${hex()}@example.com`;
  const employeeId = `E-${hex()}`;
  const mgr = g.seedUser(`lee.${hex()}@example.com`, { fullName: 'Lee Park' });
  const eng = g.addGroup(`eng-${hex()}@example.com`);
  const all = g.addGroup(`all-${hex()}@example.com`);
  const u = g.seedUser(email, {
    employeeId,
    fullName: 'Dana Reyes',
    aliases: [`dreyes.${hex()}@example.com`],
    isEnrolledIn2Sv: true,
    tokens: ['Slack', 'Zoom'],
    asps: ['Thunderbird'],
    backupCodes: 10,
    groups: [eng, all],
    sessions: 2,
    drive: { private: 40, shared: 12 },
    calendarEvents: 7,
  });
  const phone = g.addDevice(u);
  return {
    u,
    mgr,
    phone,
    subject: subjectOf(employeeId, email, o.manager === false ? null : mgr.primaryEmail),
  };
}
