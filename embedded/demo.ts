/**
 * Fixed values of the embedded demo: ports, the stand-ins' demo credentials (they guard only local
 * stand-ins, never a real system) and the sample employees seeded into the stand-ins.
 */
export const DEMO_PORTS = {
  temporal: Number(process.env.OFFBOARD_TEMPORAL_PORT ?? 7233),
  temporalUi: Number(process.env.OFFBOARD_TEMPORAL_UI_PORT ?? 8233),
  postgres: Number(process.env.OFFBOARD_PG_PORT ?? 5433),
  smtp: Number(process.env.OFFBOARD_SMTP_PORT ?? 1025),
  inbox: Number(process.env.OFFBOARD_INBOX_PORT ?? 1080),
  graph: Number(process.env.OFFBOARD_GRAPH_PORT ?? 7441),
  scim: Number(process.env.OFFBOARD_SCIM_PORT ?? 7442),
  google: Number(process.env.OFFBOARD_GOOGLE_PORT ?? 7443),
  slack: Number(process.env.OFFBOARD_SLACK_PORT ?? 7444),
  /** Keycloak, with `npm start -- --idp keycloak` only. */
  keycloak: Number(process.env.OFFBOARD_KEYCLOAK_PORT ?? 7480),
};

export const DEMO_SECRETS = {
  tenantId: 'demo-tenant',
  clientId: 'offboard-demo',
  ENTRA_CLIENT_SECRET: 'demo-stand-in-secret',
  SCIM_TOKEN_CRM: 'demo-crm-token',
  SCIM_TOKEN_WIKI: 'demo-wiki-token',
  SCIM_TOKEN_VPN: 'demo-vpn-token',
  SLACK_ADMIN_TOKEN: 'demo-slack-token',
};

export const DEMO_EMPLOYEES = [
  {
    id: 'E-1042',
    name: 'Dana Reyes',
    workEmail: 'dana.reyes@example.com',
    personalEmail: 'dana@example.net',
    department: 'Finance',
  },
  {
    id: 'E-1043',
    name: 'Sam Okafor',
    workEmail: 'sam.okafor@example.com',
    personalEmail: 'sam@example.net',
    department: 'Engineering',
  },
  {
    id: 'E-1044',
    name: 'Ana Lima',
    workEmail: 'ana.lima@example.com',
    personalEmail: 'ana@example.net',
    department: 'Sales',
    // Her accounts still carry her former name: matching finds them by her employee id.
    accountName: 'ana.silva@example.com',
  },
];

/** The break-glass account the demo catalog protects: automation never touches it. */
export const DEMO_BREAK_GLASS = 'breakglass@example.com';
