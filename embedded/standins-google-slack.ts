/**
 * The Google Workspace and Slack stand-ins of `npm start` (embedded/start.ts), which the demo catalog's
 * `google`, `google-mfa` and `slack` entries point at.
 *
 * Google authenticates the connector as a service account: the first start generates its RSA key pair
 * and keeps the private key in `.data/secrets.json` (`GOOGLE_SA_KEY`, the variable the catalog names);
 * the stand-in gets the public key. The first start also seeds both stand-ins with the demo employees,
 * their manager (lee@example.com, who receives the handover: Drive files, calendar events, a mailbox
 * delegation) and Google's admin the service account acts as. Their state is kept in
 * `.data/standins/google-slack.json`, written through before each change is answered
 * (standins/persist.ts) like the Graph and SCIM stand-ins' state.
 */
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { GoogleStandIn } from '../standins/google';
import { googleSnapshot, restoreGoogle, type GoogleStandInState } from '../standins/google-state';
import { JsonStateFile } from '../standins/persist';
import { SlackStandIn, type SlackStandInState } from '../standins/slack';
import { DEMO_EMPLOYEES, DEMO_PORTS, DEMO_SECRETS } from './demo';

/** The service account and the admin it acts as, as config/catalog.demo.yaml names them. */
export const DEMO_GOOGLE = {
  serviceAccount: 'offboard-demo@offboard-demo.iam.gserviceaccount.com',
  admin: 'admin@example.com',
  manager: 'lee@example.com',
};

/**
 * The demo catalog's stand-in URLs, written with their default ports, pointed at the ports in use (one
 * pass, so that no replaced port is replaced again).
 */
export function demoCatalogUrls(yaml: string): string {
  const to: Record<string, string> = {
    'https://localhost:7441': `https://localhost:${DEMO_PORTS.graph}`,
    'http://127.0.0.1:7442': `http://127.0.0.1:${DEMO_PORTS.scim}`,
    'http://127.0.0.1:7443': `http://127.0.0.1:${DEMO_PORTS.google}`,
    'http://127.0.0.1:7444': `http://127.0.0.1:${DEMO_PORTS.slack}`,
  };
  return yaml.replace(/https?:\/\/(?:localhost|127\.0\.0\.1):744[1-4](?!\d)/g, (m) => to[m] ?? m);
}

/** The service account's private key (PEM) from the secrets file, generated there the first time. */
function serviceAccountKey(dataDir: string, say: (msg: string) => void): string {
  const file = path.join(dataDir, 'secrets.json');
  const secrets = (existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {}) as Record<string, unknown>;
  if (typeof secrets.GOOGLE_SA_KEY === 'string') return secrets.GOOGLE_SA_KEY;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  writeFileSync(file, JSON.stringify({ ...secrets, GOOGLE_SA_KEY: pem }, null, 2), { mode: 0o600 });
  say(`generated the Google stand-in's service account key in ${path.basename(dataDir)}/secrets.json`);
  return pem;
}

/** First start: the demo people, with something to hand over (Drive, Calendar) and to revoke. */
function seed(google: GoogleStandIn, slack: SlackStandIn): void {
  google.seedUser(DEMO_GOOGLE.admin, { isAdmin: true, fullName: 'Workspace Admin' });
  google.seedUser(DEMO_GOOGLE.manager, {
    fullName: 'Lee Manager',
    drive: { private: 5, shared: 9 },
    calendarEvents: 4,
  });
  slack.seedUser(DEMO_GOOGLE.manager, { realName: 'Lee Manager' });
  const all = google.addGroup('all@example.com');
  const team = (e: { department: string }) => google.addGroup(`${e.department.toLowerCase()}@example.com`);
  DEMO_EMPLOYEES.forEach((e, i) => {
    // Ana's (E-1044) Google account still has her former name: found by her employee id.
    const account = (e as { accountName?: string }).accountName ?? e.workEmail;
    const u = google.seedUser(account, {
      employeeId: e.id,
      fullName: e.name,
      isEnrolledIn2Sv: true,
      backupCodes: 10,
      sessions: 2,
      tokens: i === 0 ? ['Zoom', 'Calendly'] : ['Zoom'],
      asps: i === 0 ? ['Thunderbird'] : [],
      groups: [all, team(e)],
      drive: { private: 40 - 10 * i, shared: 12 + 6 * i },
      calendarEvents: 7 + 2 * i,
    });
    if (i < 2) google.addDevice(u, i === 0 ? 'Pixel 8' : 'Galaxy S24');
    // Slack's profile email follows sign-in: her current work address.
    slack.seedUser(e.workEmail, { realName: e.name, sessions: 2 });
  });
}

export interface GoogleSlackStandIns {
  google: GoogleStandIn;
  slack: SlackStandIn;
  /** The variables the demo catalog's entries name (the service account key, the Slack token). */
  env: { GOOGLE_SA_KEY: string; SLACK_ADMIN_TOKEN: string };
  /** The banner's line. */
  banner: string;
  stop(): Promise<void>;
}

/** Starts both stand-ins on their demo ports, their state restored from `dataDir` or seeded. */
export async function startGoogleSlackStandIns(
  dataDir: string,
  say: (msg: string) => void,
): Promise<GoogleSlackStandIns> {
  const key = serviceAccountKey(dataDir, say);
  const google = new GoogleStandIn(DEMO_GOOGLE.serviceAccount, createPublicKey(key));
  const slack = new SlackStandIn(DEMO_SECRETS.SLACK_ADMIN_TOKEN);
  const stateFile = path.join(dataDir, 'standins', 'google-slack.json');
  if (existsSync(stateFile)) {
    const st = JSON.parse(readFileSync(stateFile, 'utf8')) as {
      google: GoogleStandInState;
      slack: SlackStandInState;
    };
    restoreGoogle(google, st.google);
    slack.restore(st.slack);
  } else seed(google, slack);
  const saved = new JsonStateFile(stateFile, () => ({
    google: googleSnapshot(google),
    slack: slack.snapshot(),
  }));
  google.onChange = () => saved.save();
  slack.onChange = () => saved.save();
  await saved.save();
  await google.start(DEMO_PORTS.google);
  await slack.start(DEMO_PORTS.slack);
  return {
    google,
    slack,
    env: { GOOGLE_SA_KEY: key, SLACK_ADMIN_TOKEN: DEMO_SECRETS.SLACK_ADMIN_TOKEN },
    banner: `                      Google Workspace ${google.url}, Slack ${slack.url}`,
    async stop() {
      await google.stop();
      await slack.stop();
      await saved.save();
    },
  };
}
