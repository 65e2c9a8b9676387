/**
 * Shadow IT from a leaver's consents, end to end: the real API, worker, Graph stand-in and Temporal dev
 * server. A leaver consented to Miro (no catalog system) and to the team wiki (the catalog's "Team
 * Wiki"); the Entra step revokes both and reads them back; its evidence and detail, the verification
 * report's item and `GET /departures/{id}` name Miro as uncovered; `offboard shadow-it --departure`
 * (run as a child process) lists app, client id, scopes, the system that held the consent and
 * "revoked", exits 1 for the uncovered app, and refuses a file together with --departure.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import type { ConsentRow } from '../contract/consents';
import type { ReportItem, StepView } from '../contract';
import { signDelivery } from '../lib/webhook-sign';
import type { RunningServer } from '../server/main';
import { delegatedGrant, servicePrincipal } from '../standins/graph-consents';
import {
  TOKENS,
  WEBHOOK_SECRET,
  eventually,
  getJson,
  hrisEvent,
  post,
  seedEmployee,
  startRunningStack,
  uniq,
  type Stack,
} from './support/harness';

let stack: Stack;
let api: RunningServer;
let stopAll: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ stack, api, stop: stopAll } = await startRunningStack());
}, 60_000);
afterAll(async () => {
  await stopAll?.();
});

const CLI = path.join(__dirname, '..', 'cli', 'offboard.cjs');

function offboard(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      {
        env: { ...process.env, OFFBOARD_URL: api.url, OFFBOARD_TOKEN: TOKENS.it, NO_COLOR: '1' },
        timeout: 60_000,
      },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

interface View {
  steps: StepView[];
  consents: ConsentRow[];
  verification: { report: { items: ReportItem[] } | null } | null;
}

test('the Entra step revokes the leaver’s consents; the report, the API and `offboard shadow-it --departure` name the uncovered app', async () => {
  const id = uniq('SH');
  const person = seedEmployee(stack.standIns, id);
  const miro = servicePrincipal({ displayName: 'Miro' });
  const wiki = servicePrincipal({ displayName: 'Team Wiki' });
  person.graphUser.oauth2PermissionGrants = [
    delegatedGrant(miro, ['User.Read', 'Files.Read.All']),
    delegatedGrant(wiki, ['User.Read']),
  ];
  const d = signDelivery(WEBHOOK_SECRET, hrisEvent(id));
  const departureId = (await post(`${api.url}/webhooks/hris`, d.body, d.headers)).json.departureId as string;
  const view = async () =>
    (await getJson(`${api.url}/departures/${departureId}`, TOKENS.it)).json as unknown as View;

  const entra = await eventually(
    async () => (await view()).steps.find((s) => s.stepId === 'entra' && s.status === 'green') ?? null,
    60_000,
    'entra green',
  );
  expect(person.graphUser.oauth2PermissionGrants).toEqual([]);
  const uncoveredNote = `shadow IT: 1 of 2 third-party app(s) the leaver authorised are in no catalog system (uncovered; consent revoked): Miro (${miro.appId})`;
  expect(entra.detail).toContain(uncoveredNote);

  // The evidence on the step table, as the API lists it.
  const v = await view();
  expect(v.consents).toEqual([
    {
      appId: miro.appId,
      name: 'Miro',
      scopes: ['User.Read', 'Files.Read.All'],
      kind: 'delegated-permission',
      stepId: 'entra',
      systemId: 'entra',
      systemName: 'Microsoft Entra ID',
      coveredBy: null,
      revoked: true,
    },
    expect.objectContaining({ appId: wiki.appId, name: 'Team Wiki', coveredBy: 'wiki', revoked: true }),
  ]);

  // The verification report (compiled at once by the test catalog) carries it on the identity step.
  const report = await eventually(async () => (await view()).verification?.report ?? null, 90_000, 'report');
  const item = report.items.find((i) => i.itemId === 'step:entra')!;
  expect(item).toMatchObject({ colour: 'green' });
  expect(item.detail).toContain(uncoveredNote);

  // The CLI: JSON for scripts, a table for people; exit 1 for the uncovered app.
  const json = await offboard(['shadow-it', '--departure', departureId, '--json']);
  expect(json.code).toBe(1);
  expect(JSON.parse(json.stdout)).toEqual({
    departureId,
    employeeId: id,
    consents: [
      expect.objectContaining({ name: 'Miro', coveredBy: null }),
      expect.objectContaining({ name: 'Team Wiki' }),
    ],
    uncovered: 1,
  });
  const text = await offboard(['shadow-it', '--departure', id]); // by employee id too
  expect(text.code).toBe(1);
  const lines = text.stdout.split('\n');
  expect(lines[0]).toMatch(/^APPLICATION\s+CLIENT ID\s+SCOPES\s+HELD BY\s+KIND\s+STATUS\s+CATALOG$/);
  expect(lines.find((l) => l.startsWith('Miro '))).toMatch(
    new RegExp(
      `^Miro\\s+${miro.appId}\\s+User\\.Read Files\\.Read\\.All\\s+Microsoft Entra ID \\(entra\\)\\s+delegated-permission\\s+revoked\\s+NOT IN CATALOG$`,
    ),
  );
  expect(lines.find((l) => l.startsWith('Team Wiki '))).toMatch(/\srevoked\s+wiki$/);
  expect(text.stdout).toContain('1 not covered by the catalog (shadow IT), 1 covered');

  // Usage: a file and --departure together, or neither; an unknown departure is refused.
  expect((await offboard(['shadow-it', 'export.csv', '--departure', departureId])).code).toBe(64);
  expect((await offboard(['shadow-it'])).code).toBe(64);
  expect((await offboard(['shadow-it', '--departure', 'dep_nosuch'])).code).toBe(3);
});
