/**
 * The `offboard` CLI, run as a child process (`node cli/offboard.cjs`) against the real API, worker,
 * stand-ins, slapd and the Temporal dev server: single and CSV starts (bad rows reported by line and never
 * started, re-runs answer duplicate), status and list, the live access audit, the shadow-IT report, and
 * `retry` resetting a deliberately failed workflow that then completes once the fault is gone.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import { OFFBOARDING_WORKFLOW, offboardingWorkflowId, statusQuery } from '../contract';
import type { RunningServer } from '../server/main';
import type { OffboardingWorkers } from '../workers/worker';
import {
  SECRETS,
  TOKENS,
  catalogOf,
  catalogYaml,
  createTestWorker,
  env,
  eventually,
  seedEmployee,
  startApi,
  startStack,
  uniq,
  workflowBundlePath,
  type Stack,
} from './support/harness';

let stack: Stack;
let api: RunningServer;
let worker: OffboardingWorkers;
let running: Promise<void>;
let catalogFile: string;

beforeAll(async () => {
  stack = await startStack();
  worker = await createTestWorker(stack);
  running = worker.run();
  api = await startApi(stack);
  catalogFile = path.join(env.root, `${uniq('cli-catalog')}.yaml`);
  writeFileSync(catalogFile, catalogYaml(stack.standIns));
}, 60_000);
afterAll(async () => {
  await api?.close();
  worker?.shutdown();
  await running;
  await stack?.stop();
});

const CLI = path.join(__dirname, '..', 'cli', 'offboard.cjs');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `offboard ARGS` as a child process (asynchronously: the API answers from this process). */
function offboard(args: string[], extraEnv: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      {
        env: {
          ...process.env,
          ...SECRETS,
          OFFBOARD_URL: api.url,
          OFFBOARD_TOKEN: TOKENS.hr,
          TEMPORAL_ADDRESS: env.temporalAddress,
          TEMPORAL_NAMESPACE: 'default',
          CATALOG_FILE: catalogFile,
          NO_COLOR: '1',
          ...extraEnv,
        },
        timeout: 90_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const json = <T>(r: Run): T => JSON.parse(r.stdout) as T;

function departureFlags(employeeId: string, department = 'Finance') {
  return [
    '--employee-id',
    employeeId,
    '--name',
    `Employee ${employeeId}`,
    '--work-email',
    `${employeeId.toLowerCase()}@example.com`,
    '--department',
    department,
    '--work-location',
    'remote',
    '--termination-type',
    'involuntary',
    '--confirmed-at',
    new Date(Date.now() - 60_000).toISOString(),
  ];
}

test('--help works for the program and every command, with the exit codes', async () => {
  const top = await offboard(['--help']);
  expect(top.code).toBe(0);
  expect(top.stdout).toMatch(/Exit codes:/);
  expect(top.stdout).not.toMatch(/Not yet/);
  const commands = [
    'start',
    'status',
    'redrive',
    'asset-received',
    'archive-confirmed',
    'resolve',
    'acknowledge',
    'list',
    'retry',
    'audit',
    'shadow-it',
  ];
  for (const c of commands) expect(top.stdout).toMatch(new RegExp(`\\n  ${c} `));
  const runs = await Promise.all(commands.map((c) => offboard([c, '--help'])));
  runs.forEach((r, i) => {
    expect({ command: commands[i], code: r.code }).toEqual({ command: commands[i], code: 0 });
    expect(r.stdout).toContain(`Usage: offboard ${commands[i]}`);
    expect(r.stdout).toMatch(/Exit codes/);
  });
  const unknown = await offboard(['frobnicate']);
  expect(unknown.code).toBe(64);
  expect(unknown.stderr).toMatch(/unknown command/);
});

test('start: one departure from flags is started once; again it is a duplicate; bad flags and roles are refused', async () => {
  const id = uniq('CLI1');
  const flags = departureFlags(id);
  const first = await offboard(['start', ...flags, '--json']);
  expect(first.stderr).toBe('');
  expect(first.code).toBe(0);
  const a = json<{ departureId: string; workflowId: string; action: string }>(first);
  expect(a).toMatchObject({ workflowId: offboardingWorkflowId(id), action: 'started' });

  const again = await offboard(['start', ...flags]);
  expect(again.code).toBe(0);
  expect(again.stdout).toMatch(new RegExp(`^duplicate: ${a.departureId}`));
  expect(await stack.db.departure.count({ where: { employeeId: id } })).toBe(1);
  // Audited as the operator, stored as an operator event.
  const audit = await stack.db.auditEvent.findFirst({
    where: { departureId: a.departureId, action: 'departure_accepted' },
  });
  expect(audit?.actor).toBe('operator:hr-user');
  const events = await stack.db.triggerEvent.findMany({ where: { employeeId: id } });
  expect(events.map((e) => e.source)).toEqual(['operator', 'operator']);

  const bad = await offboard(['start', ...departureFlags(uniq('CLI1')), '--work-email', 'nope']);
  expect(bad.code).toBe(3);
  expect(bad.stderr).toMatch(/--work-email: Invalid email address/);

  const itdesk = await offboard(['start', ...departureFlags(uniq('CLI1'))], {
    OFFBOARD_TOKEN: TOKENS.itdesk,
  });
  expect(itdesk.code).toBe(3);
  expect(itdesk.stderr).toMatch(/403 forbidden/);

  const down = await offboard(['start', ...departureFlags(uniq('CLI1'))], {
    OFFBOARD_URL: 'http://127.0.0.1:9',
  });
  expect(down.code).toBe(69);
  expect(down.stderr).toMatch(/cannot reach the API/);
});

test('the API routes under the CLI: POST /departures validates like the webhook; GET /departures filters are checked', async () => {
  const postDeparture = (body: unknown, token = TOKENS.hr, headers: Record<string, string> = {}) =>
    fetch(`${api.url}/departures`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    }).then(async (r) => ({ status: r.status, json: (await r.json()) as Record<string, unknown> }));
  const id = uniq('APIR');
  const body = {
    employee: {
      id,
      name: `Employee ${id}`,
      workEmail: `${id.toLowerCase()}@example.com`,
      department: 'Finance',
      workLocation: 'remote',
    },
    termination: { type: 'voluntary', confirmedAt: new Date().toISOString(), lastDay: '2099-01-31' },
  };
  const bad = await postDeparture({
    ...body,
    employee: { ...body.employee, workEmail: 'x' },
    extra: 1,
  });
  expect(bad.status).toBe(400);
  expect((bad.json.error as { fields: { field: string }[] }).fields.map((f) => f.field)).toEqual(['(body)']);
  const badEmail = await postDeparture({ ...body, employee: { ...body.employee, workEmail: 'x' } });
  expect(badEmail.status).toBe(400);
  expect((badEmail.json.error as { fields: { field: string }[] }).fields).toEqual([
    { field: 'employee.workEmail', message: expect.any(String) },
  ]);
  const notTrigger = await postDeparture({ ...body, status: 'pending_resignation' });
  expect(notTrigger.status).toBe(400);
  expect((notTrigger.json.error as { fields: { field: string }[] }).fields[0]!.field).toBe('status');
  expect((await postDeparture(body, TOKENS.itdesk)).status).toBe(403);
  expect(await stack.db.departure.count({ where: { employeeId: id } })).toBe(0);

  // A voluntary termination implies resigned_confirmed; the Idempotency-Key header is honoured.
  const ok = await postDeparture(body, TOKENS.admin, { 'idempotency-key': `key-${id}` });
  expect(ok.status).toBe(202);
  expect(ok.json.action).toBe('started');
  const again = await postDeparture(body, TOKENS.admin, { 'idempotency-key': `key-${id}` });
  expect(again.json).toEqual({ ...ok.json, action: 'duplicate' });
  const ev = await stack.db.triggerEvent.findFirstOrThrow({ where: { idempotencyKey: `op:key-${id}` } });
  expect(ev).toMatchObject({ source: 'operator', hrisStatus: 'resigned_confirmed', outcome: 'started' });

  const list = (q: string) =>
    fetch(`${api.url}/departures?${q}`, { headers: { authorization: `Bearer ${TOKENS.it}` } }).then(
      async (r) => ({ status: r.status, json: (await r.json()) as Record<string, unknown> }),
    );
  expect((await list(`employeeId=${id}`)).json.departures).toHaveLength(1);
  for (const q of [
    'from=yesterday',
    'to=2026-13-01',
    'workflow=sleeping',
    'bogus=1',
    'from=2026-02-01&to=2026-01-01',
  ])
    expect({ q, status: (await list(q)).status }).toEqual({ q, status: 400 });
});

test('start --csv: bad rows are reported by line and never started; good rows start exactly once; a re-run answers duplicate', async () => {
  const dept = uniq('Layoff');
  const ids = [uniq('CSV'), uniq('CSV'), uniq('CSV')];
  const bad = [uniq('CSVBAD'), uniq('CSVBAD')];
  const confirmedAt = new Date(Date.now() - 120_000).toISOString();
  const row = (id: string, over: Partial<Record<string, string>> = {}) => {
    const r = {
      employeeId: id,
      name: `Employee ${id}`,
      workEmail: `${id.toLowerCase()}@example.com`,
      department: dept,
      workLocation: 'remote',
      terminationType: 'involuntary',
      confirmedAt,
      lastDay: '',
      ...over,
    };
    return Object.values(r)
      .map((v) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v))
      .join(',');
  };
  const file = path.join(env.root, `${uniq('layoff')}.csv`);
  writeFileSync(
    file,
    [
      'employeeId,name,workEmail,department,workLocation,terminationType,confirmedAt,lastDay', // line 1
      row(ids[0]!), // line 2
      row(bad[0]!, { workEmail: 'not-an-email' }), // line 3
      '', // line 4 (blank lines are skipped)
      row(ids[1]!, { name: 'Multi\nLine Name' }), // lines 5-6
      row(bad[1]!, { workLocation: 'moon', confirmedAt: 'yesterday' }), // line 7
      row(ids[0]!), // line 8: the same employee again
      row(ids[2]!, { terminationType: 'voluntary', lastDay: '2099-01-31' }), // line 9
    ].join('\n') + '\n',
  );

  const first = await offboard(['start', '--csv', file]);
  expect(first.code).toBe(2);
  expect(first.stdout).toContain('line 3: workEmail: Invalid email address');
  expect(first.stdout).toMatch(/line 7: workLocation: .*; confirmedAt: Invalid ISO datetime/);
  expect(first.stdout).toContain(`line 8: employeeId: ${ids[0]} is already on line 2`);
  expect(first.stdout).toMatch(/started 3, queued 0, duplicate 0, updated 0, invalid 3, failed 0 \(6 rows\)/);
  expect(first.stderr).toBe(''); // no progress bar when stderr is not a terminal

  for (const id of ids) {
    expect(await stack.db.departure.count({ where: { employeeId: id } })).toBe(1);
    const d = await stack.client.workflow.getHandle(offboardingWorkflowId(id)).describe();
    expect(d.type).toBe(OFFBOARDING_WORKFLOW);
  }
  for (const id of bad) expect(await stack.db.departure.count({ where: { employeeId: id } })).toBe(0);
  const multi = await stack.db.departure.findFirstOrThrow({ where: { employeeId: ids[1] } });
  expect(multi.employeeName).toBe('Multi\nLine Name');

  // Re-running the same file is safe: the good rows answer duplicate, nothing new starts.
  const again = await offboard(['start', '--csv', file, '--json']);
  expect(again.code).toBe(2);
  const out = json<{ summary: Record<string, number>; rows: { line: number; result: string }[] }>(again);
  expect(out.summary).toMatchObject({ rows: 6, started: 0, duplicate: 3, invalid: 3, failed: 0 });
  expect(out.rows.map((r) => [r.line, r.result])).toEqual([
    [2, 'duplicate'],
    [3, 'invalid'],
    [5, 'duplicate'],
    [7, 'invalid'],
    [8, 'invalid'],
    [9, 'duplicate'],
  ]);
  for (const id of ids) expect(await stack.db.departure.count({ where: { employeeId: id } })).toBe(1);

  // A corrected file (a personal email filled in, a last day moved) is answered "updated" for those rows
  // and the departures take the corrections (it was all "duplicate": the corrections were dropped).
  const corrected = path.join(env.root, `${uniq('corrected')}.csv`);
  writeFileSync(
    corrected,
    [
      'employeeId,name,workEmail,department,workLocation,terminationType,confirmedAt,lastDay,personalEmail',
      `${row(ids[0]!)},${ids[0]!.toLowerCase()}@personal.example.net`,
      `${row(ids[2]!, { terminationType: 'voluntary', lastDay: '2099-02-28' })},`,
    ].join('\n') + '\n',
  );
  const fixed = json<{ summary: Record<string, number> }>(
    await offboard(['start', '--csv', corrected, '--json']),
  );
  expect(fixed.summary).toMatchObject({ rows: 2, started: 0, updated: 2, duplicate: 0 });
  expect((await stack.db.departure.findFirstOrThrow({ where: { employeeId: ids[0] } })).personalEmail).toBe(
    `${ids[0]!.toLowerCase()}@personal.example.net`,
  );
  expect((await stack.db.departure.findFirstOrThrow({ where: { employeeId: ids[2] } })).lastDay).toBe(
    '2099-02-28',
  );
  const fixedAgain = json<{ summary: Record<string, number> }>(
    await offboard(['start', '--csv', corrected, '--json']),
  );
  expect(fixedAgain.summary).toMatchObject({ rows: 2, updated: 0, duplicate: 2 });

  // A file whose header is wrong starts nothing.
  const wrong = path.join(env.root, `${uniq('wrong')}.csv`);
  writeFileSync(wrong, `employee,name\n${uniq('X')},Someone\n`);
  const refused = await offboard(['start', '--csv', wrong]);
  expect(refused.code).toBe(64);
  expect(refused.stderr).toMatch(/unknown column\(s\) "employee".*missing column\(s\) employeeId/);
  // list: by department (the layoff), and dates.
  const listed = await offboard(['list', '--department', dept, '--json']);
  expect(listed.code).toBe(0);
  expect(
    json<{ employeeId: string }[]>(listed)
      .map((d) => d.employeeId)
      .sort(),
  ).toEqual([...ids].sort());
  // The department as typed, whatever its case.
  const lower = await offboard(['list', '--department', dept.toLowerCase(), '--json']);
  expect(json<unknown[]>(lower)).toHaveLength(ids.length);
  const table = await offboard(['list', '--department', dept]);
  expect(table.stdout.split('\n')[0]).toMatch(
    /^DEPARTURE\s+EMPLOYEE\s+NAME\s+DEPARTMENT\s+STATUS\s+RED\s+ACCEPTED$/,
  );
  const today = new Date().toISOString().slice(0, 10);
  const since = await offboard(['list', '--department', dept, '--since', today, '--until', today, '--json']);
  expect(json<unknown[]>(since)).toHaveLength(3);
  const future = await offboard(['list', '--department', dept, '--since', '2099-01-01', '--json']);
  expect(json<unknown[]>(future)).toHaveLength(0);
  const badDate = await offboard(['list', '--since', 'last tuesday']);
  expect(badDate.code).toBe(64);
  // --red: a red step, or a red report item nobody resolved (as the verification activities record
  // it: `redItems`), e.g. an account the final audit found still active.
  const redId = ids[0]!;
  await stack.db.departure.updateMany({ where: { employeeId: redId }, data: { redSteps: 0, redItems: 1 } });
  const red = json<{ employeeId: string; redSteps: number; redItems: number }[]>(
    await offboard(['list', '--department', dept, '--red', '--json']),
  );
  // (Rows without a personal email may have red items of their own: NDA and survey undeliverable.)
  expect(red).toEqual(expect.arrayContaining([expect.objectContaining({ employeeId: redId, redItems: 1 })]));
  expect(red.every((d) => d.redSteps > 0 || d.redItems > 0)).toBe(true);
  await stack.db.departure.updateMany({ where: { employeeId: redId }, data: { redItems: 0 } });
  const notRed = json<{ employeeId: string }[]>(
    await offboard(['list', '--department', dept, '--red', '--json']),
  );
  expect(notRed.map((d) => d.employeeId)).not.toContain(redId);
  await stack.db.departure.updateMany({ where: { employeeId: redId }, data: { redItems: 1 } });
  expect((await offboard(['list', '--department', dept, '--red'])).stdout).toMatch(
    new RegExp(`\\n\\S+\\s+${redId}\\s.*\\s0\\+1\\s`),
  );
}, 180_000);

test('usage errors name the flag: flags beside --csv, an unknown --status, --since after --until', async () => {
  // Flags for one departure beside --csv: a usage error, nothing started (the flags were ignored before).
  const both = await offboard(['start', '--csv', 'layoff.csv', '--employee-id', uniq('FLAG')]);
  expect(both).toMatchObject({
    code: 64,
    stderr: expect.stringMatching(/not both \(got --csv with --employee-id\)/),
  });
  // The help names the required columns as the checks do.
  const help = await offboard(['start', '--help']);
  expect(help.stdout).toMatch(
    /required: employeeId, name, workEmail, department, workLocation, terminationType, confirmedAt\n +optional: personalEmail,/,
  );

  const inverted = await offboard(['list', '--since', '2026-12-01', '--until', '2026-11-01']);
  expect(inverted).toMatchObject({
    code: 64,
    stderr: expect.stringContaining('--since (2026-12-01) is after --until'),
  });
  const empty = await offboard(['status', '']);
  expect(empty.code).toBe(64);
  expect(empty.stderr).toMatch(/the reference must not be empty/);
  const badStatus = await offboard(['list', '--status', 'bogus']);
  expect(badStatus).toMatchObject({
    code: 64,
    stderr: expect.stringMatching(/Allowed choices are accepted, awaiting_approval, started/),
  });
});

test('status and audit: active accounts before, step table and no active account after revocation', async () => {
  const id = uniq('AUD');
  seedEmployee(stack.standIns, id);
  const before = await offboard(['audit', id, '--work-email', `${id.toLowerCase()}@example.com`]);
  expect(before.code).toBe(1);
  const lines = before.stdout.split('\n');
  expect(lines[0]).toMatch(/^SYSTEM\s+NAME\s+CONNECTOR\s+ACTIVE\s+DETAIL$/);
  for (const sys of ['entra', 'ldap', 'vpn', 'crm', 'wiki'])
    expect(lines.find((l) => l.startsWith(`${sys} `))).toMatch(/\syes(\s|$)/);
  expect(lines.find((l) => l.startsWith('badge '))).toMatch(/\sn\/a\s/);
  expect(before.stdout).toMatch(/6 active account\(s\), 0 system\(s\) not checked/);

  // With a personal address, so nothing in its report turns red (no NDA or survey without an address).
  const started = await offboard([
    'start',
    ...departureFlags(id),
    '--personal-email',
    `${id.toLowerCase()}@personal.example.net`,
    '--json',
  ]);
  expect(started.code).toBe(0);
  const { departureId } = json<{ departureId: string }>(started);

  // Wait until every API step is confirmed (ticket steps stay yellow for their owners).
  await eventually(
    async () => {
      const s = await offboard(['status', id, '--json']);
      const v = json<{ steps: { kind: string; integration: string; status: string }[] }>(s);
      const api = v.steps.filter((x) => x.kind === 'revoke' && x.integration === 'api');
      return api.length === 6 && api.every((x) => x.status === 'green');
    },
    60_000,
    'API steps green',
  );
  const status = await offboard(['status', id]);
  expect(status.code).toBe(0);
  expect(status.stdout).toContain(`Departure   ${departureId}`);
  expect(status.stdout).toMatch(/Workflow {4}offboarding:\S+ {2}(RUNNING|COMPLETED)/);
  expect(status.stdout).toMatch(/STEP\s+STATUS\s+ATTEMPTS\s+EXECUTING SYSTEM\s+ACCOUNT\s+LAST ERROR/);
  // Each API step names the account it acted on and the key that found it.
  expect(status.stdout).toMatch(/\nvpn\s+green\s+\d+\s+SCIM 2\.0 @ \S+\s+\S+@example\.com \(by userName\)/);
  expect(status.stdout).toMatch(/\nentra\s+green\s+\d+\s+Microsoft Graph @/);
  expect(status.stdout).toMatch(/\nbadge\s+yellow\s/);
  // The paperwork follows the revocation: the documents table appears with it.
  const withDocuments = await eventually(
    async () => {
      const s = await offboard(['status', id]);
      return /\npayroll_notification\s+delivered\s/.test(s.stdout) ? s.stdout : null;
    },
    60_000,
    'documents in the status',
  );
  expect(withDocuments).toMatch(/\nDOCUMENT\s+STATUS\s+UPDATED\n/);
  // By departure id and workflow id too.
  const byDep = await offboard(['status', departureId, '--json']);
  const byWf = await offboard(['status', offboardingWorkflowId(id), '--json']);
  expect(json<{ departure: { id: string } }>(byDep).departure.id).toBe(departureId);
  expect(json<{ departure: { id: string } }>(byWf).departure.id).toBe(departureId);
  const missing = await offboard(['status', uniq('NOBODY')]);
  expect(missing.code).toBe(3);
  expect(missing.stderr).toMatch(/no departure of employee/);

  // The work email is looked up through the API this time.
  const after = await offboard(['audit', id, '--json']);
  expect(after.stderr).toBe('');
  expect(after.code).toBe(0);
  const report = json<{ active: number; unchecked: number; systems: { systemId: string; active: string }[] }>(
    after,
  );
  expect(report).toMatchObject({ active: 0, unchecked: 0 });
  expect(
    report.systems
      .filter((s) => s.active === 'no')
      .map((s) => s.systemId)
      .sort(),
  ).toEqual(['crm', 'entra', 'entra-mfa', 'ldap', 'vpn', 'wiki'].sort());
  // --strict counts the systems without an API as not checked.
  expect((await offboard(['audit', id, '--strict'])).code).toBe(2);
  // A departure or workflow id names the employee (it was taken as the employee id); a work email
  // that is not one is refused (the connectors would have found "no account").
  for (const ref of [departureId, offboardingWorkflowId(id)]) {
    const byRef = json<{ employeeId: string; workEmail: string }>(await offboard(['audit', ref, '--json']));
    expect(byRef).toMatchObject({ employeeId: id, workEmail: `${id.toLowerCase()}@example.com` });
  }
  const badEmail = await offboard(['audit', id, '--work-email', 'notanemail']);
  expect(badEmail.code).toBe(64);
  expect(badEmail.stderr).toMatch(/--work-email must be an email address, got "notanemail"/);

  // A system that does not answer is "error", and the audit is incomplete (exit 2), never "clean".
  stack.standIns.scim.control.inject({ pathIncludes: '/crm/', status: 503, times: Infinity });
  try {
    const partial = await offboard(['audit', id, '--json', '--timeout', '3s']);
    expect(partial.code).toBe(2);
    const p = json<{ systems: { systemId: string; active: string }[] }>(partial);
    expect(p.systems.find((s) => s.systemId === 'crm')?.active).toBe('error');
  } finally {
    stack.standIns.scim.control.clearFaults();
  }
}, 120_000);

test('shadow-it: applications the catalog does not cover, with rows and users; exit 1 when any', async () => {
  const file = path.join(env.root, `${uniq('access')}.csv`);
  writeFileSync(
    file,
    [
      'Date,App_Name,User Email',
      '2026-11-01,Team Wiki,a@example.com', // catalog name
      '2026-11-01,CRM,b@example.com', // catalog id (any case)
      '2026-11-02,Notion,a@example.com',
      '2026-11-02,notion,b@example.com',
      '2026-11-03,NOTION,b@example.com',
      '2026-11-03,Figma,c@example.com',
      '2026-11-04,remote-access VPN,c@example.com', // punctuation ignored
      '2026-11-04,,c@example.com',
    ].join('\n'),
  );
  // Names in any script are names (they were reduced to nothing and left out); Latin accents fold.
  const scripts = path.join(env.root, `${uniq('scripts')}.csv`);
  writeFileSync(
    scripts,
    [
      'App_Name,User Email',
      'Яндекс Диск,a@example.com',
      'яндекс диск,b@example.com',
      '日本アプリ,c@example.com',
      'Café Board,a@example.com',
      'Cafe Board,b@example.com',
      'Tēam Wiki,c@example.com',
    ].join('\n'),
  );
  const intl = json<{
    uncovered: { application: string; rows: number; spellings: string[] }[];
    covered: { systemId: string }[];
  }>(await offboard(['shadow-it', scripts, '--json'], { ENTRA_CLIENT_SECRET: '' }));
  expect(intl.uncovered.map((u) => [u.application, u.rows]).sort()).toEqual(
    [
      ['Café Board', 2],
      ['Яндекс Диск', 2],
      ['日本アプリ', 1],
    ].sort(),
  );
  expect(intl.covered.map((c) => c.systemId)).toEqual(['wiki']);
  const r = await offboard(['shadow-it', file, '--json'], { ENTRA_CLIENT_SECRET: '' });
  expect(r.code).toBe(1);
  const report = json<{
    uncovered: { application: string; rows: number; users: number; spellings: string[] }[];
    covered: { systemId: string }[];
  }>(r);
  expect(report.uncovered).toEqual([
    { application: 'Notion', spellings: ['Notion', 'notion', 'NOTION'], rows: 3, users: 2 },
    { application: 'Figma', spellings: ['Figma'], rows: 1, users: 1 },
  ]);
  expect(report.covered.map((c) => c.systemId).sort()).toEqual(['crm', 'vpn', 'wiki']);
  const text = await offboard(['shadow-it', file]);
  expect(text.stdout).toMatch(
    /^APPLICATION\s+USERS\s+ROWS\s+ALSO SPELLED\nNotion\s+2\s+3\s+notion, NOTION\nFigma\s+1\s+1/,
  );

  const clean = path.join(env.root, `${uniq('clean')}.csv`);
  writeFileSync(clean, 'service\nCRM\nTeam Wiki\n');
  expect((await offboard(['shadow-it', clean])).code).toBe(0);
  const noColumn = path.join(env.root, `${uniq('nocol')}.csv`);
  writeFileSync(noColumn, 'foo,bar\n1,2\n');
  const refused = await offboard(['shadow-it', noColumn]);
  expect(refused.code).toBe(64);
  expect(refused.stderr).toMatch(/no application column/);
});

test('retry: a workflow failed by a faulty worker is reset to its last good task and runs through once the fault is gone', async () => {
  const id = uniq('RTY');
  seedEmployee(stack.standIns, id, { ldap: false });
  const queue = uniq('tq-retry');
  const systems = catalogOf(stack, ['entra', 'crm']);
  const deps = {
    db: stack.db,
    catalog: systems,
    connectors: stack.connectors,
    mailer: stack.mailer,
    publicUrl: 'http://127.0.0.1:3000',
  };
  // Stored as started, so the API's dispatcher leaves it alone: this test starts it on its own queue.
  const confirmedAt = new Date(Date.now() - 60_000);
  const input = {
    departureId: `dep_${randomUUID()}`,
    employeeId: id,
    terminationType: 'involuntary' as const,
    confirmedAt: confirmedAt.toISOString(),
    lastDay: null,
  };
  await stack.db.departure.create({
    data: {
      id: input.departureId,
      employeeId: id,
      terminationKey: input.confirmedAt,
      workflowId: offboardingWorkflowId(id),
      employeeName: `Employee ${id}`,
      workEmail: `${id.toLowerCase()}@example.com`,
      department: 'Finance',
      workLocation: 'in_office',
      terminationType: 'involuntary',
      confirmedAt,
      occurredAt: confirmedAt,
      status: 'started',
      workflowStartedAt: new Date(),
    },
  });
  const workflowId = offboardingWorkflowId(id);

  // 1. A worker with a bug: planning fails, non-retryably, so the workflow fails.
  const faulty = await Worker.create({
    connection: stack.nativeConnection,
    namespace: 'default',
    taskQueue: queue,
    workflowBundle: { codePath: workflowBundlePath() },
    stickyQueueScheduleToStartTimeout: '1s',
    dataConverter: stack.client.options.dataConverter,
    activities: {
      ...createActivities(deps),
      planRevocation: () => Promise.reject(ApplicationFailure.nonRetryable('catalog bug', 'CatalogBug')),
    },
  });
  const failedRunId = await faulty.runUntil(async () => {
    const h = await stack.client.workflow.start(OFFBOARDING_WORKFLOW, {
      taskQueue: queue,
      workflowId,
      args: [input],
      memo: { departureId: input.departureId },
    });
    await expect(h.result()).rejects.toThrow();
    return h.firstExecutionRunId;
  });

  const status = await offboard(['status', id]);
  expect(status.code).toBe(1); // the workflow failed
  expect(status.stdout).toMatch(/FAILED/);
  const failedList = await eventually(
    async () => {
      const r = await offboard(['list', '--failed', '--json']);
      return json<{ id: string }[]>(r).some((d) => d.id === input.departureId) && r;
    },
    20_000,
    'listed as failed',
  );
  expect(failedList.code).toBe(0);

  // --reason is required; --dry-run shows the reset point and changes nothing.
  expect((await offboard(['retry', workflowId])).code).toBe(64);
  // A run id that is not one is a usage error; a well-formed unknown one names the run, not the workflow.
  const bogus = await offboard(['retry', workflowId, '--reason', 'test', '--run-id', 'bogus', '--dry-run']);
  expect(bogus).toMatchObject({ code: 64, stderr: expect.stringMatching(/--run-id must be a run id/) });
  const unknownRun = '00000000-0000-4000-8000-000000000000';
  const unknown = await offboard(['retry', workflowId, '--reason', 'test', '--run-id', unknownRun]);
  expect(unknown.code).toBe(3);
  expect(unknown.stderr).toContain(`no run ${unknownRun} of workflow ${workflowId}`);
  const dry = await offboard(['retry', workflowId, '--reason', 'planning bug fixed', '--dry-run', '--json']);
  expect(dry.stderr).toBe('');
  expect(dry.code).toBe(0);
  const plan = json<{ resetToEventId: number; why: string; newRunId: null }>(dry);
  expect(plan.why).toMatch(
    /activity planRevocation failed \((catalog bug|message encrypted[^)]*)\); going back to workflow task \d+, which ran it/,
  );
  expect(plan.newRunId).toBeNull();

  // 2. The fault is removed (a fixed worker); `offboard retry` resets the run.
  const fixed = await createTestWorker({ ...stack, taskQueue: queue, catalog: systems });
  await fixed.runUntil(
    (async () => {
      const r = await offboard(['retry', workflowId, '--reason', 'planning bug fixed']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`${workflowId} run ${failedRunId}: failed`);
      const newRunId = /new run (\S+)/.exec(r.stdout)?.[1];
      expect(newRunId).toBeTruthy();
      expect(newRunId).not.toBe(failedRunId);
      // The new run plans and revokes: every step confirmed, nothing red. (It then goes on to the
      // verification checkpoint and waits for HR and IT to sign off, so its phase is not final here.)
      const handle = stack.client.workflow.getHandle(workflowId, newRunId);
      const done = await eventually(
        async () => {
          const st = await handle.query(statusQuery);
          return st.steps.length === 3 && st.steps.every((x) => x.status === 'green') && st;
        },
        60_000,
        'revocation complete after the reset',
      );
      expect(done.redSteps).toBe(0);
      expect(done.steps.map((x) => [x.stepId, x.status]).sort()).toEqual([
        ['crm', 'green'],
        ['entra', 'green'],
        ['entra/discover_owned_credentials', 'green'],
      ]);
      // The reason is in the new run's history.
      const history = await stack.client.workflow.getHandle(workflowId, newRunId).fetchHistory();
      const reset = history.events!.find((e) => e.workflowTaskFailedEventAttributes?.baseRunId);
      expect(reset?.workflowTaskFailedEventAttributes?.failure?.message).toBe('planning bug fixed');
    })(),
  );
  const after = await offboard(['status', id]);
  expect(after.code).toBe(0);
  expect(after.stdout).toMatch(/Workflow {4}offboarding:\S+ {2}(RUNNING|COMPLETED)/);
  const notFailed = await offboard(['list', '--failed', '--json']);
  expect(json<{ id: string }[]>(notFailed).some((d) => d.id === input.departureId)).toBe(false);
  // A workflow that has not failed and is not stuck has nothing to retry.
  const nothing = await offboard(['retry', workflowId, '--reason', 'again']);
  expect(nothing.code).toBe(3);
  expect(nothing.stderr).toMatch(
    /is (completed|running normally \(its workflow tasks succeed\)): nothing to retry/,
  );
}, 120_000);
