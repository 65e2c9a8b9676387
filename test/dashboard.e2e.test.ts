/**
 * The dashboard in a real browser (Debian's Chromium driven by playwright-core): IT signs in, sees a
 * departure whose CRM step is red, records the owner's word on a waiting data archive, resolves the step
 * and acknowledges; HR signs in and acknowledges; the
 * departure completes and the completion certificate downloads. A wrong token shows an error and no data;
 * the IT desk sees no acknowledge button. The page is served with a strict CSP and no caching.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { statusQuery, type OffboardingStatus } from '../contract';
import { signDelivery } from '../lib/webhook-sign';
import type { RunningServer } from '../server/main';
import {
  withManualMailbox,
  TOKENS,
  WEBHOOK_SECRET,
  eventually,
  hrisEvent,
  post,
  seedEmployee,
  signNdaFromMail,
  startRunningStack,
  uniq,
  type Stack,
} from './support/harness';

/** The flags Chromium needs on the build machines (no GPU, no sandbox, nothing fetched in the background). */
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
];

let stack: Stack;
let api: RunningServer;
let stopAll: (() => Promise<void>) | undefined;
let browser: Browser;

beforeAll(async () => {
  ({ stack, api, stop: stopAll } = await startRunningStack({ catalog: withManualMailbox }));
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: CHROMIUM_FLAGS,
  });
}, 90_000);
afterAll(async () => {
  await browser?.close();
  await stopAll?.();
});

/** A fresh browser tab (own sessionStorage) that fails the test on any script error or CSP violation. */
async function newPage(): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1366, height: 768 } });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  return { context, page, problems };
}

/** With DASHBOARD_SCREENSHOTS=<folder>, full-page screenshots for a human look at the page. */
async function screenshot(page: Page, name: string): Promise<void> {
  const dir = process.env.DASHBOARD_SCREENSHOTS;
  if (dir) await page.screenshot({ path: path.join(dir, name), fullPage: true });
}

async function signIn(page: Page, token: string, hash = ''): Promise<void> {
  await page.goto(`${api.url}/dashboard${hash}`);
  await page.getByLabel('Access token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** The text of the element, whitespace collapsed. */
async function text(page: Page, selector: string): Promise<string> {
  return ((await page.locator(selector).first().textContent()) ?? '').replace(/\s+/g, ' ').trim();
}

test('the page, script and stylesheet are served with a strict CSP and no caching; / redirects there', async () => {
  for (const [path, type] of [
    ['/dashboard', 'text/html'],
    ['/dashboard/app.js', 'text/javascript'],
    ['/dashboard/app.css', 'text/css'],
  ] as const) {
    const res = await fetch(`${api.url}${path}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain(type);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
  }
  const html = await (await fetch(`${api.url}/dashboard`)).text();
  // No inline script: the only script is the file.
  expect(html.match(/<script\b[^>]*>/g)).toEqual(['<script src="/dashboard/app.js" defer>']);
  const js = readFileSync(path.join(__dirname, '..', 'server', 'dashboard', 'app.js'), 'utf8');
  expect(js).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  const root = await fetch(`${api.url}/`, { redirect: 'manual' });
  expect(root.status).toBe(302);
  expect(root.headers.get('location')).toBe('/dashboard');
});

test('a wrong token shows a clear error and no data', async () => {
  const { context, page, problems } = await newPage();
  try {
    await signIn(page, 'not-a-real-token');
    const error = page.locator('#signin-error');
    await error.waitFor({ state: 'visible' });
    expect(await text(page, '#signin-error')).toMatch(/Sign-in failed.*not accepted.*unknown operator token/);
    expect(await page.locator('#app').isVisible()).toBe(false);
    expect(await page.locator('#departures tbody tr').count()).toBe(0);
    expect(await page.locator('#who').isVisible()).toBe(false);
    expect(await page.evaluate('sessionStorage.length')).toBe(0);
    expect(problems).toEqual([]);
  } finally {
    await context.close();
  }
});

test('every status filter of the list loads (none is refused by the API)', async () => {
  const { context, page, problems } = await newPage();
  try {
    await signIn(page, TOKENS.hr);
    await page.locator('#who-text', { hasText: 'Signed in as hr-user (HR)' }).waitFor();
    const options = await page
      .locator('#filter-status option')
      .evaluateAll((os) => os.map((o) => (o as unknown as { value: string }).value));
    expect(options).toContain('failed');
    for (const value of options) {
      const answered = page.waitForResponse((r) => r.url().includes('/departures?'));
      await page.locator('#filter-status').selectOption(value);
      const r = await answered;
      expect({ value, status: r.status() }).toEqual({ value, status: 200 });
      expect(await page.locator('#list-error').isVisible()).toBe(false);
    }
    expect(problems).toEqual([]);
  } finally {
    await context.close();
  }
});

test('IT resolves a red step and acknowledges, HR acknowledges, the departure completes with its certificate', async () => {
  const id = uniq('DB');
  const person = seedEmployee(stack.standIns, id);
  const tag = uniq('LAPTOP').toUpperCase();
  await stack.db.asset.create({
    data: { tag, name: 'Laptop', category: 'laptop', assignedToEmployeeId: id },
  });
  // The CRM refuses every deactivation of this user: its step turns red.
  stack.standIns.scim.control.inject({
    method: 'PATCH',
    pathIncludes: `/crm/scim/v2/Users/${person.scimUsers.crm.id}`,
    status: 500,
    times: Infinity,
  });
  const d = signDelivery(WEBHOOK_SECRET, hrisEvent(id));
  const fired = await post(`${api.url}/webhooks/hris`, d.body, d.headers);
  expect(fired.status).toBe(202);
  const departureId = fired.json.departureId as string;
  const handle = stack.client.workflow.getHandle(fired.json.workflowId as string);
  const status = () => handle.query(statusQuery);

  // The revocation pass ends (CRM red, tickets open); the owners confirm their tickets and the
  // employee signs the NDA.
  await eventually(
    async () => {
      const st = await status();
      return st.steps.length > 0 && st.steps.every((s) => !['pending', 'running'].includes(s.status));
    },
    60_000,
    'revocation pass finished',
  );
  expect((await status()).steps.find((s) => s.stepId === 'crm')?.status).toBe('red');
  for (const ticket of await stack.db.ticket.findMany({ where: { departureId, status: 'open' } })) {
    const confirm = await post(`${api.url}/tickets/${ticket.id}/confirm`, JSON.stringify({ note: 'done' }), {
      authorization: `Bearer ${TOKENS.it}`,
      'content-type': 'application/json',
    });
    expect(confirm.status).toBe(202);
  }
  expect((await signNdaFromMail(stack, api.url, id)).status).toBe(200);

  // The IT desk opens the departure from the link in an email (deep link): it sees the red step, no
  // acknowledge or resolve buttons, and records the returned laptop.
  const desk = await newPage();
  try {
    const p = desk.page;
    await signIn(p, TOKENS.itdesk, `#departure=${departureId}`);
    await p.locator('#who-text', { hasText: 'Signed in as itdesk-user (IT desk)' }).waitFor();
    await p.locator('#detail-title', { hasText: `Employee ${id} (${id})` }).waitFor();
    await p.locator('tr[data-step="crm"] .badge.colour-red').waitFor();
    await p.locator('#section-acknowledgments').waitFor();
    expect(await p.locator('#acknowledge').count()).toBe(0);
    expect(await p.getByRole('button', { name: /Acknowledge/ }).count()).toBe(0);
    expect(await p.getByRole('button', { name: /^Resolve/ }).count()).toBe(0);
    expect(await p.locator('#download-certificate').count()).toBe(0);
    // The mailbox archive is IT's to confirm, not the desk's.
    await p.locator('tr[data-archive="mailbox"]').waitFor();
    expect(await p.getByRole('button', { name: /Record the archive/ }).count()).toBe(0);
    // The return is requested (the page polls until it is).
    const receive = p.getByRole('button', { name: `Record Laptop ${tag} as received` });
    await receive.waitFor({ timeout: 30_000 });
    expect(await text(p, `tr[data-asset="${tag}"] .badge`)).toBe('Yellow: return requested');
    await receive.click();
    // The form takes the keyboard focus; an incomplete form says what is missing and sends nothing.
    expect(await p.locator(`form[data-form="asset:${tag}"] select:focus`).count()).toBe(1);
    await p.getByRole('button', { name: 'Save receipt' }).click();
    await p.locator(`form[data-form="asset:${tag}"] .error`, { hasText: 'Choose the condition' }).waitFor();
    await p.getByLabel('Condition').selectOption('good');
    await p.getByLabel('Inspected by').fill('desk-sam');
    await p.getByLabel('Notes (optional)').fill('charger included');
    await p.getByRole('button', { name: 'Save receipt' }).click();
    await p.locator('#feedback', { hasText: `Recorded Laptop (${tag}) as received` }).waitFor();
    await p
      .locator(`tr[data-asset="${tag}"] .badge.colour-green`, { hasText: 'Green: received' })
      .waitFor({ timeout: 30_000 });
    expect(desk.problems).toEqual([]);
  } finally {
    await desk.context.close();
  }
  const recovery = await stack.db.assetRecovery.findFirstOrThrow({ where: { departureId, assetTag: tag } });
  expect(recovery).toMatchObject({ status: 'received', inspectedBy: 'desk-sam', condition: 'good' });

  // Now only the sign-off is left.
  let last: OffboardingStatus | null = null;
  await eventually(
    async () => {
      last = await status();
      return last.phase === 'awaiting_signoff' && last.verification?.report;
    },
    60_000,
    'awaiting sign-off',
  ).catch((e: Error) => {
    throw new Error(`${e.message}; last status: ${JSON.stringify(last, null, 1)}`);
  });

  // IT signs in and opens the departure from the list.
  const it = await newPage();
  const { page } = it;
  await signIn(page, TOKENS.it);
  await page.locator('#who-text', { hasText: 'Signed in as it-user (IT)' }).waitFor();
  await page.getByRole('link', { name: `Employee ${id}` }).click();
  await page.locator('#detail-title', { hasText: `Employee ${id} (${id})` }).waitFor();
  expect(page.url()).toContain(`#departure=${departureId}`);

  // The mailbox archive waits for its owner; IT records the owner's word (a bad count is refused on
  // the page, nothing sent).
  const archiveRow = page.locator('tr[data-archive="mailbox"]');
  expect(await text(page, 'tr[data-archive="mailbox"] .badge')).toBe(
    "Yellow: waiting for the data owner's word",
  );
  await page.getByRole('button', { name: 'Record the archive of Exchange mailbox as done' }).click();
  expect(await page.locator('form[data-form="archive:mailbox"] input:focus').count()).toBe(1);
  await page.getByLabel('Items archived (as the owner reported)').fill('-3');
  await page.getByLabel('Who confirmed it, and how').fill('Messaging Team, by phone');
  await page.getByRole('button', { name: 'Save confirmation' }).click();
  await page.locator('form[data-form="archive:mailbox"] .error', { hasText: 'a whole number' }).waitFor();
  expect(
    await stack.db.auditEvent.count({ where: { departureId, action: 'archive_confirmation_sent' } }),
  ).toBe(0);
  await page.getByLabel('Items archived (as the owner reported)').fill('1234');
  await page.getByRole('button', { name: 'Save confirmation' }).click();
  await page.locator('#feedback', { hasText: 'Recorded the archive of Exchange mailbox.' }).waitFor();
  await archiveRow
    .locator('.badge.colour-green', { hasText: 'Green: archived' })
    .waitFor({ timeout: 30_000 });
  expect(await text(page, 'tr[data-archive="mailbox"]')).toMatch(/1234 items/);
  expect(await archiveRow.getByRole('button').count()).toBe(0);
  await page
    .locator('tr[data-document="data_archiving_confirmation"] .badge.colour-green')
    .waitFor({ timeout: 30_000 });

  // The CRM step is red: the colour class and the words.
  const crmBadge = page.locator('tr[data-step="crm"] .badge');
  await crmBadge.waitFor();
  expect(await crmBadge.textContent()).toBe('Red: failed, needs attention');
  expect(await crmBadge.getAttribute('class')).toContain('colour-red');
  expect(await page.locator('tr[data-step="crm"]').getAttribute('class')).toContain('row-red');
  expect(await text(page, 'tr[data-step="crm"] td.detail-cell')).toMatch(/TargetUnavailableError/);
  expect(await page.locator('tr[data-step="entra"] .badge').textContent()).toBe('Green: done and confirmed');
  expect(await page.locator('tr[data-step="entra"] .badge').getAttribute('class')).toContain('colour-green');
  // Each API step names the account it acted on and the key that found it.
  expect(await text(page, 'tr[data-step="entra"] td.account-cell')).toMatch(
    /^Employee \S+ <\S+@example\.com> \(found by userPrincipalName\)$/,
  );
  // The report lists it as red and unresolved; the departure needs attention.
  const crmItem = page.locator('tr[data-item="step:crm"]');
  expect(await crmItem.locator('.badge').first().getAttribute('class')).toContain('colour-red');
  expect(await text(page, 'tr[data-item="step:crm"] .resolution-cell')).toContain('Needs a resolution');
  expect(await text(page, '#overall')).toBe('Red: Needs attention');
  expect(await text(page, '#outstanding')).toContain('IT must acknowledge the verification report');
  await screenshot(page, 'it-awaiting-signoff.png');

  // IT resolves the CRM step with a note; the form takes the keyboard focus.
  const resolveCrm = page.locator('tr[data-item="step:crm"] button');
  expect(await resolveCrm.getAttribute('aria-label')).toBe(
    `Resolve ${await text(page, 'tr[data-item="step:crm"] td')}`,
  );
  await resolveCrm.click();
  expect(await page.locator('form[data-form="resolve:step:crm"] input:focus').count()).toBe(1);
  // The CRM refused the change (not a matching failure): "no account there" is not a choice.
  expect(await page.getByLabel(/No account there/).count()).toBe(0);
  await page.getByLabel(/Risk accepted/).check();
  await page.getByLabel(/Note \(required\)/).fill('CRM admin is removing the account by hand; ticket CRM-42');
  await page.getByRole('button', { name: 'Save resolution' }).click();
  await page.locator('#feedback', { hasText: 'Resolved “CRM: deactivate user” as risk accepted.' }).waitFor();
  await page
    .locator('tr[data-item="step:crm"] .resolution-cell', { hasText: 'Risk accepted by it-user (IT)' })
    .waitFor();
  expect(await text(page, 'tr[data-item="step:crm"] .resolution-cell')).toContain('ticket CRM-42');
  const resolved = await status();
  expect(resolved.verification!.resolutions).toEqual([
    expect.objectContaining({ itemId: 'step:crm', how: 'accepted_risk', by: 'it-user', role: 'it' }),
  ]);
  expect(resolved.verification!.unresolved).not.toContain('step:crm');

  // The CRM's administrator disables the account by hand, so the final live audit finds it inactive.
  stack.standIns.scim.findUser('crm', person.workEmail)!.active = false;
  // Whatever else the report asks about (the CRM's live-audit item: its account was still active when
  // the report was compiled) is resolved through the page too.
  for (const itemId of resolved.verification!.unresolved) {
    const item = resolved.verification!.report!.items.find((i) => i.itemId === itemId)!;
    await page.locator(`tr[data-item="${itemId}"] button`).click();
    await page
      .getByLabel(item.kind === 'access' && item.colour === 'red' ? /Fixed by hand/ : /Risk accepted/)
      .check();
    await page.getByLabel(/Note \(required\)/).fill(`checked by IT (${itemId})`);
    await page.getByRole('button', { name: 'Save resolution' }).click();
    await page
      .locator(`tr[data-item="${itemId}"] .resolution-cell`, { hasText: 'by it-user (IT)' })
      .waitFor();
  }
  await page
    .locator('#section-report', { hasText: 'Every item that needed a resolution has one.' })
    .waitFor();

  // IT acknowledges.
  await page.locator('#acknowledge').click();
  await page.getByLabel('Note (optional)').fill('IT checked the report');
  await page.getByRole('button', { name: 'Acknowledge as IT' }).click();
  await page.locator('#feedback', { hasText: 'Acknowledged as IT.' }).waitFor();
  await page.locator('li[data-ack="it"]', { hasText: 'by it-user' }).waitFor();
  expect(await page.locator('li[data-ack="it"] .badge').getAttribute('class')).toContain('colour-green');
  expect(await page.locator('#acknowledge').count()).toBe(0);
  expect(it.problems).toEqual([]);

  // Sign out: the token and the data leave the page.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.locator('#signin').waitFor();
  expect(await page.evaluate('sessionStorage.length')).toBe(0);
  expect(await page.locator('#app').isVisible()).toBe(false);
  expect(await page.locator('#detail-body').textContent()).toBe('');
  expect(await page.locator('#departures tbody tr').count()).toBe(0);

  // HR signs in in the same tab with the keyboard (the deep link is still in the address) and acknowledges.
  await page.getByLabel('Access token').fill(TOKENS.hr);
  await page.getByLabel('Access token').press('Enter');
  await page.locator('#who-text', { hasText: 'Signed in as hr-user (HR)' }).waitFor();
  await page.locator('#detail-title', { hasText: `Employee ${id}` }).waitFor();
  await page.locator('#acknowledge').click();
  await page.getByRole('button', { name: 'Acknowledge as HR' }).click();
  await page.locator('#feedback', { hasText: 'Acknowledged as HR.' }).waitFor();
  await page.locator('li[data-ack="hr"]', { hasText: 'by hr-user' }).waitFor();

  // The final audit runs, the certificate is issued and the departure completes; the page shows it by
  // itself (polling).
  await page
    .locator('#departure-status .badge.colour-green', { hasText: 'Completed' })
    .waitFor({ timeout: 60_000 })
    .catch(async (e: Error) => {
      throw new Error(`${e.message}; status query: ${JSON.stringify(await status().catch(String), null, 1)}`);
    });
  await page.locator('#departure-phase[data-phase="completed"]').waitFor({ timeout: 30_000 });
  expect(await text(page, '#overall')).toBe('Green: Completed');
  await page
    .locator(`#departures tr[data-departure="${departureId}"] .badge`, { hasText: 'Completed' })
    .waitFor();
  const download = page.locator('#download-certificate');
  await download.waitFor({ timeout: 30_000 });
  await screenshot(page, 'hr-completed.png');
  const [file] = await Promise.all([page.waitForEvent('download'), download.click()]);
  expect(file.suggestedFilename()).toBe(`completion_certificate-${id}.pdf`);
  const pdf = readFileSync((await file.path())!);
  expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
  await page.locator('#feedback', { hasText: 'certificate was downloaded' }).waitFor();
  expect(it.problems).toEqual([]);
  await it.context.close();

  const final = await status();
  expect(final.phase).toBe('completed');
  expect(final.verification!.done).toBe(true);
  expect(final.verification!.acknowledgments).toMatchObject({
    hr: { by: 'hr-user', note: null },
    it: { by: 'it-user', note: 'IT checked the report' },
  });
}, 240_000);
