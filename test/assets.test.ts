/**
 * Asset recovery activities against real PostgreSQL, the real SMTP catcher and the Snipe-IT stand-in:
 * routing (remote, in office, hybrid), return requests to the personal email only, label requests,
 * .ics invites, receipts with chain of custody and a single check-in, escalation with a recovery plan,
 * departures without assets, business days over public holidays, and Snipe-IT's errors.
 */
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import ICAL from 'ical.js';
import { DateTime } from 'luxon';
import {
  createAssetSystem,
  createBuiltinAssetSystem,
  createSnipeItAssetSystem,
  type AssetSystem,
} from '../activities/asset-systems';
import { createAssetActivities } from '../activities/assets';
import {
  TargetAuthError,
  TargetRejectedError,
  TargetThrottledError,
  TargetUnavailableError,
} from '../activities/errors';
import { createShippingProvider } from '../activities/shipping';
import type { AssetsConfig, Catalog } from '../config/catalog';
import type { CaughtMail } from '../embedded/mailcatcher';
import { addBusinessDays, isBusinessDay, nextBusinessDayAt } from '../lib/calendar';
import { SNIPEIT_STATUS, SnipeItStandIn } from '../standins/snipeit';
import { PinoTemporalLogger } from '../workers/temporal';
import { createDeparture, quietLogger, startStack, uniq, type Stack } from './support/harness';

const SNIPE_TOKEN = 'snipe-it-test-token';
const PUBLIC_URL = 'http://127.0.0.1:3000';

let stack: Stack;
let snipe: SnipeItStandIn;

beforeAll(async () => {
  stack = await startStack();
  snipe = new SnipeItStandIn({ token: SNIPE_TOKEN });
  await snipe.start();
});
afterAll(async () => {
  await snipe?.stop();
  await stack?.stop();
});

/** Runs activities in a mocked activity context (they use `Context`), keeping their types. */
function runner() {
  const env = new MockActivityEnvironment(undefined, { logger: new PinoTemporalLogger(quietLogger) });
  return <A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> =>
    env.run(fn, ...args) as Promise<R>;
}

/** The stack's catalog with the test's own IT desk, IT owner and asset settings. */
function catalogWith(tag: string, assets: Partial<AssetsConfig> = {}): Catalog {
  return {
    ...stack.catalog,
    assets: {
      ...stack.catalog.assets,
      holidays: { country: 'DE' },
      itOwner: { name: 'IT Asset Owner', email: `it-owner-${tag}@example.com` },
      itDesk: { name: 'IT Desk', email: `it-desk-${tag}@example.com`, location: 'HQ, 2nd floor, room 2.14' },
      snipeit: {
        baseUrl: snipe.url,
        tokenEnv: 'SNIPE_IT_TOKEN',
        returnInProgressStatusId: SNIPEIT_STATUS.returnInProgress,
        checkedInStatusId: SNIPEIT_STATUS.readyToDeploy,
      },
      ...assets,
    },
  };
}

function activities(catalog: Catalog, assetSystem: AssetSystem) {
  return createAssetActivities({
    db: stack.db,
    catalog,
    mailer: stack.mailer,
    publicUrl: PUBLIC_URL,
    assetSystem,
    shipping: createShippingProvider(catalog, { mailer: stack.mailer, publicUrl: PUBLIC_URL }),
  });
}

const snipeSystem = (catalog: Catalog) =>
  createAssetSystem(
    { ...catalog, assets: { ...catalog.assets, system: 'snipeit' } },
    { SNIPE_IT_TOKEN: SNIPE_TOKEN },
    stack.db,
  );

/** A departure as intake stores it, with the work location and contacts the test needs. */
async function departure(
  employeeId: string,
  opts: { workLocation: string; personalEmail?: string | null; departmentHeadEmail?: string | null },
) {
  const input = await createDeparture(stack.db, employeeId);
  const personalEmail =
    opts.personalEmail === undefined
      ? `${employeeId.toLowerCase()}@personal.example.net`
      : opts.personalEmail;
  const d = await stack.db.departure.update({
    where: { id: input.departureId },
    data: {
      workLocation: opts.workLocation,
      personalEmail,
      departmentHeadEmail:
        opts.departmentHeadEmail === undefined
          ? `head-${employeeId.toLowerCase()}@example.com`
          : opts.departmentHeadEmail,
    },
  });
  return d;
}

/** Snipe-IT user with a laptop and a phone checked out to them. */
function seedSnipe(employeeId: string, workEmail: string) {
  const user = snipe.seedUser({
    employee_num: employeeId,
    email: workEmail,
    first_name: 'Dana',
    last_name: employeeId,
  });
  const laptop = snipe.seedAsset({
    asset_tag: `${employeeId}-LT`,
    name: 'MacBook Pro 14" & charger',
    category: 'Laptops',
    assignedTo: user.id,
  });
  const phone = snipe.seedAsset({
    asset_tag: `${employeeId}-PH`,
    name: 'iPhone 15',
    category: 'Mobile Phones',
    assignedTo: user.id,
  });
  return { user, laptop, phone };
}

async function custody(recoveryId: string) {
  return stack.db.custodyEntry.findMany({ where: { recoveryId }, orderBy: { id: 'asc' } });
}

/** Waits for `n` messages matching `pred`, then a little longer to catch any extra one. */
async function mails(pred: (m: CaughtMail) => boolean, n: number): Promise<CaughtMail[]> {
  for (let i = 0; i < n; i++) await stack.mail.waitFor(() => stack.mail.messages.filter(pred).length > i);
  await new Promise((r) => setTimeout(r, 300));
  return stack.mail.messages.filter(pred);
}

async function rejection(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

// ----------------------------------------------------------------------------------------- business days

describe('business days (date-holidays, company time zone)', () => {
  const DE = { timeZone: 'Europe/Berlin', country: 'DE' };
  const US = { timeZone: 'America/New_York', country: 'US' };

  test('Germany: 24 December is a business day, 25 and 26 December are public holidays', () => {
    expect(isBusinessDay('2026-12-24', DE)).toBe(true);
    expect(isBusinessDay('2026-12-25', DE)).toBe(false);
    expect(isBusinessDay('2026-12-26', DE)).toBe(false);
    // Tuesday 22nd + 3: Wed 23, Thu 24, (Fri 25 holiday, weekend), Mon 28 → due at the end of Monday.
    expect(addBusinessDays(new Date('2026-12-22T10:00:00Z'), 3, DE).toISOString()).toBe(
      '2026-12-28T23:00:00.000Z',
    );
    // The default window of 7 from Monday 21st ends with Thursday 31st (New Year's Day is a holiday too).
    expect(addBusinessDays(new Date('2026-12-21T08:00:00Z'), 7, DE).toISOString()).toBe(
      '2026-12-31T23:00:00.000Z',
    );
  });

  test('United States: Thanksgiving (26 November 2026) is skipped, the Friday after is not', () => {
    expect(isBusinessDay('2026-11-26', US)).toBe(false);
    expect(isBusinessDay('2026-11-27', US)).toBe(true);
    expect(addBusinessDays(new Date('2026-11-25T14:00:00Z'), 1, US).toISOString()).toBe(
      '2026-11-28T05:00:00.000Z',
    );
    // Independence Day 2026 falls on a Saturday: the observed Friday 3 July is off.
    expect(isBusinessDay('2026-07-03', US)).toBe(false);
  });

  test('a region adds its own holidays; the day is taken in the company time zone across DST', () => {
    // Epiphany is a public holiday in Bavaria, not in Germany as a whole.
    expect(addBusinessDays(new Date('2026-01-05T09:00:00Z'), 1, DE).toISOString()).toBe(
      '2026-01-06T23:00:00.000Z',
    );
    expect(addBusinessDays(new Date('2026-01-05T09:00:00Z'), 1, { ...DE, region: 'BY' }).toISOString()).toBe(
      '2026-01-07T23:00:00.000Z',
    );
    // 23:30 UTC on Friday 27 March is already Saturday in Berlin; the clocks go forward on the 29th.
    expect(addBusinessDays(new Date('2026-03-27T23:30:00Z'), 1, DE).toISOString()).toBe(
      '2026-03-30T22:00:00.000Z',
    );
    expect(nextBusinessDayAt(new Date('2026-12-24T14:00:00Z'), 10, 0, DE).toISOString()).toBe(
      '2026-12-28T09:00:00.000Z',
    );
  });

  test('unknown countries and negative day counts are refused', () => {
    expect(() => addBusinessDays(new Date(), 5, { timeZone: 'UTC', country: 'XX' })).toThrow(/country "XX"/);
    expect(() => addBusinessDays(new Date(), -1, DE)).toThrow(RangeError);
    expect(() => addBusinessDays(new Date(), 1, { ...DE, region: 'ZZ' })).toThrow(/region "ZZ"/);
  });
});

// ------------------------------------------------------------------------------------------------ routes

test('remote: return requests go to the personal email only, the IT desk gets label requests, Snipe-IT marks the assets return in progress', async () => {
  const tag = uniq('remote');
  const employeeId = uniq('E');
  const d = await departure(employeeId, { workLocation: 'remote' });
  const { laptop, phone } = seedSnipe(employeeId, d.workEmail);
  const catalog = catalogWith(tag, { system: 'snipeit' });
  const acts = activities(catalog, snipeSystem(catalog));
  const run = runner();

  const plan = await run(acts.planAssetRecovery, { departureId: d.id });
  expect(plan.route).toBe('remote');
  expect(plan.assets.map((a) => a.assetTag)).toEqual([`${employeeId}-LT`, `${employeeId}-PH`]);
  expect(plan.assets[0]!.assetName).toBe('MacBook Pro 14" & charger'); // Snipe-IT's HTML escaping undone
  // 7 business days then 5 more, each ending at midnight in the company time zone.
  const due = DateTime.fromISO(plan.dueAt, { zone: 'Europe/Berlin' });
  expect(due.toFormat('HH:mm:ss')).toBe('00:00:00');
  expect(Date.parse(plan.secondDueAt)).toBeGreaterThan(Date.parse(plan.dueAt) + 5 * 86_400_000);
  // A retry returns the same recoveries and deadlines.
  expect(await run(acts.planAssetRecovery, { departureId: d.id })).toEqual(plan);
  expect(await stack.db.assetRecovery.count({ where: { departureId: d.id } })).toBe(2);

  for (const a of plan.assets) {
    const r = await run(acts.requestAssetReturn, { departureId: d.id, recoveryId: a.recoveryId });
    expect(r).toMatchObject({
      route: 'remote',
      status: 'requested',
      labelRef: `label-request:${a.recoveryId}`,
    });
  }
  const personal = await mails(
    (m) => m.to.includes(d.personalEmail!) && m.purpose === 'asset_return_request',
    2,
  );
  expect(personal).toHaveLength(2);
  expect(personal.every((m) => m.cc.length === 0)).toBe(true);
  expect(personal[0]!.text).toContain('prepaid shipping label');
  expect(personal[0]!.text).toMatch(/by the end of \w+day \d+ \w+ \d{4} \(Europe\/Berlin\)/);
  expect(personal.map((m) => m.subject).join()).toContain(`${employeeId}-PH`);
  const labels = await mails(
    (m) => m.to.includes(`it-desk-${tag}@example.com`) && m.purpose === 'label_request',
    2,
  );
  expect(labels).toHaveLength(2);
  expect(labels[0]!.text).toContain(d.personalEmail!);
  expect(labels[0]!.text).toContain('HQ, 2nd floor, room 2.14');
  expect(stack.mail.to(d.workEmail)).toHaveLength(0);

  expect(laptop.status_id).toBe(SNIPEIT_STATUS.returnInProgress);
  expect(phone.status_id).toBe(SNIPEIT_STATUS.returnInProgress);
  expect([laptop.statusChanges, phone.statusChanges]).toEqual([1, 1]);

  // Repeating the step (a retried activity) sends nothing and changes nothing.
  await run(acts.requestAssetReturn, { departureId: d.id, recoveryId: plan.assets[0]!.recoveryId });
  await new Promise((r) => setTimeout(r, 300));
  expect(stack.mail.to(d.personalEmail!)).toHaveLength(2);
  expect(laptop.statusChanges).toBe(1);
  const events = (await custody(plan.assets[0]!.recoveryId)).map((c) => c.event);
  expect(events).toEqual(['label_issued', 'requested', 'marked_return_in_progress']);
  const labelEntry = (await custody(plan.assets[0]!.recoveryId))[0]!;
  expect(labelEntry.details).toMatchObject({ provider: 'builtin', status: 'requested' });
});

test('remote without a personal email: refused, non-retryable, naming personalEmail; nothing goes to the work address', async () => {
  const employeeId = uniq('E');
  const d = await departure(employeeId, { workLocation: 'remote', personalEmail: null });
  await stack.db.asset.create({
    data: {
      tag: `${employeeId}-LT`,
      name: 'ThinkPad X1',
      category: 'laptop',
      assignedToEmployeeId: employeeId,
    },
  });
  const acts = activities(catalogWith(uniq('t')), createBuiltinAssetSystem(stack.db));
  const run = runner();
  const plan = await run(acts.planAssetRecovery, { departureId: d.id });
  const err = await rejection(
    run(acts.requestAssetReturn, { departureId: d.id, recoveryId: plan.assets[0]!.recoveryId }),
  );
  expect(err.type).toBe('TargetRejectedError');
  expect(err.nonRetryable).toBe(true);
  expect(err.message).toMatch(/personalEmail/);
  await new Promise((r) => setTimeout(r, 300));
  expect(stack.mail.to(d.workEmail)).toHaveLength(0);
  expect((await stack.db.asset.findUniqueOrThrow({ where: { tag: `${employeeId}-LT` } })).status).toBe(
    'deployed',
  );
});

test('in office: an IT desk appointment next business day at 10:00 with a parseable .ics invite to the personal email and the IT desk', async () => {
  const tag = uniq('office');
  const employeeId = uniq('E');
  const d = await departure(employeeId, { workLocation: 'in_office' });
  await stack.db.asset.create({
    data: {
      tag: `${employeeId}-LT`,
      name: 'ThinkPad X1',
      category: 'laptop',
      assignedToEmployeeId: employeeId,
    },
  });
  const catalog = catalogWith(tag);
  const acts = activities(catalog, createBuiltinAssetSystem(stack.db));
  const run = runner();
  const before = new Date();
  const plan = await run(acts.planAssetRecovery, { departureId: d.id });
  expect(plan.route).toBe('in_office');
  const r = await run(acts.requestAssetReturn, {
    departureId: d.id,
    recoveryId: plan.assets[0]!.recoveryId,
  });
  const expected = nextBusinessDayAt(before, 10, 0, { timeZone: 'Europe/Berlin', country: 'DE' });
  expect(r.appointmentAt).toBe(expected.toISOString());
  const at = DateTime.fromISO(r.appointmentAt!, { zone: 'Europe/Berlin' });
  expect(at.hour).toBe(10);
  expect(at.weekday).toBeLessThanOrEqual(5);

  const [invite] = await mails(
    (m) => m.purpose === 'asset_return_appointment' && m.to.includes(d.personalEmail!),
    1,
  );
  expect(invite!.cc).toEqual([`it-desk-${tag}@example.com`]);
  const part = invite!.attachments.find((a) => a.contentType === 'text/calendar');
  expect(part?.text).toBeTruthy();
  const cal = new ICAL.Component(ICAL.parse(part!.text!));
  expect(cal.getFirstPropertyValue('method')).toBe('REQUEST');
  const vevent = cal.getFirstSubcomponent('vevent')!;
  const ev = new ICAL.Event(vevent);
  expect(ev.startDate.toJSDate().toISOString()).toBe(expected.toISOString());
  expect(ev.duration.toSeconds()).toBe(30 * 60);
  expect(ev.location).toBe('HQ, 2nd floor, room 2.14');
  expect(String(vevent.getFirstPropertyValue('organizer')).toLowerCase()).toBe(
    `mailto:it-desk-${tag}@example.com`,
  );
  const attendees = vevent.getAllProperties('attendee').map((p) => String(p.getFirstValue()).toLowerCase());
  expect(attendees.sort()).toEqual([`mailto:${d.personalEmail}`, `mailto:it-desk-${tag}@example.com`].sort());
  expect(invite!.attachments.some((a) => a.filename === 'invite.ics')).toBe(true);
  expect(stack.mail.to(d.workEmail)).toHaveLength(0);

  // In office, the asset is not marked "return in progress"; the receipt checks it in.
  expect((await stack.db.asset.findUniqueOrThrow({ where: { tag: `${employeeId}-LT` } })).status).toBe(
    'deployed',
  );
  expect((await custody(r.recoveryId)).map((c) => c.event)).toEqual(['appointment_booked', 'requested']);
  await run(acts.recordAssetReceipt, {
    departureId: d.id,
    receipt: {
      assetTag: `${employeeId}-LT`,
      receivedBy: 'Sam (IT desk)',
      condition: 'good',
      inspectedBy: 'Alex',
      notes: '',
    },
  });
  const asset = await stack.db.asset.findUniqueOrThrow({ where: { tag: `${employeeId}-LT` } });
  expect(asset).toMatchObject({ status: 'returned', assignedToEmployeeId: null });
});

test('hybrid follows assets.hybridRoute: in office by default, remote when configured', async () => {
  const run = runner();
  const builtin = createBuiltinAssetSystem(stack.db);
  const plans = [];
  for (const hybridRoute of [undefined, 'remote'] as const) {
    const employeeId = uniq('E');
    const d = await departure(employeeId, { workLocation: 'hybrid' });
    await stack.db.asset.create({
      data: {
        tag: `${employeeId}-MON`,
        name: 'Dell U2723QE',
        category: 'monitor',
        assignedToEmployeeId: employeeId,
      },
    });
    const catalog = catalogWith(uniq('t'), hybridRoute ? { hybridRoute } : {});
    plans.push(await run(activities(catalog, builtin).planAssetRecovery, { departureId: d.id }));
  }
  expect(plans.map((p) => p.route)).toEqual(['in_office', 'remote']);
});

// -------------------------------------------------------------------------------------- receipt, refusal

test('a receipt writes the chain of custody and checks the asset in once; a repeated receipt checks nothing in again', async () => {
  const employeeId = uniq('E');
  const d = await departure(employeeId, { workLocation: 'remote' });
  const { laptop } = seedSnipe(employeeId, d.workEmail);
  const catalog = catalogWith(uniq('t'), { system: 'snipeit' });
  const acts = activities(catalog, snipeSystem(catalog));
  const run = runner();
  const plan = await run(acts.planAssetRecovery, { departureId: d.id });
  const rec = plan.assets.find((a) => a.assetTag === laptop.asset_tag)!;
  await run(acts.requestAssetReturn, { departureId: d.id, recoveryId: rec.recoveryId });

  const receipt = {
    assetTag: laptop.asset_tag,
    receivedBy: 'Sam Lee',
    condition: 'damaged',
    inspectedBy: 'Alex Kim',
    notes: 'cracked hinge',
  };
  expect(await run(acts.recordAssetReceipt, { departureId: d.id, receipt })).toBe(rec.recoveryId);
  expect(laptop.checkins).toBe(1);
  expect(laptop.assigned_to).toBeNull();
  expect(laptop.status_id).toBe(SNIPEIT_STATUS.readyToDeploy);
  expect(laptop.log.at(-1)?.note).toMatch(
    /received by Sam Lee, inspected by Alex Kim, condition damaged; cracked hinge/,
  );

  const again = await run(acts.recordAssetReceipt, {
    departureId: d.id,
    receipt: { ...receipt, condition: 'good', receivedBy: 'Someone else' },
  });
  expect(again).toBe(rec.recoveryId);
  expect(laptop.checkins).toBe(1);
  expect(snipe.control.count(`/hardware/${laptop.id}/checkin`, 'POST')).toBe(1);

  const row = await stack.db.assetRecovery.findUniqueOrThrow({ where: { id: rec.recoveryId } });
  expect(row).toMatchObject({
    status: 'received',
    receivedBy: 'Sam Lee',
    condition: 'damaged',
    inspectedBy: 'Alex Kim',
  });
  const chain = await custody(rec.recoveryId);
  expect(chain.map((c) => c.event)).toEqual([
    'label_issued',
    'requested',
    'marked_return_in_progress',
    'received',
    'checked_in',
  ]);
  expect(chain[3]!.details).toMatchObject({
    receivedBy: 'Sam Lee',
    condition: 'damaged',
    inspectedBy: 'Alex Kim',
    notes: 'cracked hinge',
  });
  expect(chain[3]!.actor).toBe('itdesk:Sam Lee');
  expect(await stack.db.auditEvent.count({ where: { departureId: d.id, action: 'asset_received' } })).toBe(1);
  // A received asset is neither requested nor escalated again.
  expect(
    await run(acts.escalateOverdueAsset, {
      departureId: d.id,
      recoveryId: rec.recoveryId,
      level: 'it_owner',
    }),
  ).toMatchObject({ status: 'received', notified: [] });
});

test('an unknown asset tag is refused (non-retryable) and names the expected tags', async () => {
  const employeeId = uniq('E');
  const d = await departure(employeeId, { workLocation: 'in_office' });
  await stack.db.asset.create({
    data: {
      tag: `${employeeId}-LT`,
      name: 'ThinkPad X1',
      category: 'laptop',
      assignedToEmployeeId: employeeId,
    },
  });
  const acts = activities(catalogWith(uniq('t')), createBuiltinAssetSystem(stack.db));
  const run = runner();
  await run(acts.planAssetRecovery, { departureId: d.id });
  const err = await rejection(
    run(acts.recordAssetReceipt, {
      departureId: d.id,
      receipt: {
        assetTag: 'NOT-OURS-1',
        receivedBy: 'Sam',
        condition: 'good',
        inspectedBy: 'Alex',
        notes: '',
      },
    }),
  );
  expect(err).toMatchObject({ type: 'TargetRejectedError', nonRetryable: true });
  expect(err.message).toContain('NOT-OURS-1');
  expect(err.message).toContain(`${employeeId}-LT`);
  const missing = await rejection(
    run(acts.recordAssetReceipt, {
      departureId: d.id,
      receipt: {
        assetTag: `${employeeId}-LT`,
        receivedBy: ' ',
        condition: 'good',
        inspectedBy: 'Alex',
        notes: '',
      },
    }),
  );
  expect(missing.message).toMatch(/receivedBy/);
  expect(await stack.db.custodyEntry.count({ where: { recovery: { departureId: d.id } } })).toBe(0);
});

// -------------------------------------------------------------------------------------------- escalation

test('escalation: the IT owner first, then the department head with a recovery plan on the recovery and in its custody chain', async () => {
  const tag = uniq('esc');
  const employeeId = uniq('E');
  const d = await departure(employeeId, { workLocation: 'remote' });
  await stack.db.asset.create({
    data: {
      tag: `${employeeId}-LT`,
      name: 'ThinkPad X1',
      category: 'laptop',
      assignedToEmployeeId: employeeId,
    },
  });
  const acts = activities(catalogWith(tag), createBuiltinAssetSystem(stack.db));
  const run = runner();
  const plan = await run(acts.planAssetRecovery, { departureId: d.id });
  const { recoveryId } = plan.assets[0]!;
  await run(acts.requestAssetReturn, { departureId: d.id, recoveryId });

  const first = await run(acts.escalateOverdueAsset, { departureId: d.id, recoveryId, level: 'it_owner' });
  expect(first).toMatchObject({ status: 'escalated_it', notified: [`it-owner-${tag}@example.com`] });
  await run(acts.escalateOverdueAsset, { departureId: d.id, recoveryId, level: 'it_owner' });
  const toOwner = await mails(
    (m) => m.purpose === 'asset_escalated_it' && m.to.includes(`it-owner-${tag}@example.com`),
    1,
  );
  expect(toOwner).toHaveLength(1);
  expect(toOwner[0]!.text).toContain(`${employeeId}-LT`);

  const second = await run(acts.escalateOverdueAsset, {
    departureId: d.id,
    recoveryId,
    level: 'department_head',
  });
  expect(second.status).toBe('escalated_department_head');
  expect(second.notified).toEqual([d.departmentHeadEmail, `it-owner-${tag}@example.com`]);
  expect(second.recoveryPlan).toMatch(/manager/);
  expect(second.recoveryPlan).toMatch(/final pay only where the law/);
  expect(second.recoveryPlan).toMatch(/wipes it remotely/);
  expect(second.recoveryPlan).toMatch(/Security/);
  await run(acts.escalateOverdueAsset, { departureId: d.id, recoveryId, level: 'department_head' });
  const toHead = await mails(
    (m) => m.purpose === 'asset_escalated_department_head' && m.to.includes(d.departmentHeadEmail!),
    1,
  );
  expect(toHead).toHaveLength(1);
  expect(toHead[0]!.cc).toEqual([`it-owner-${tag}@example.com`]);
  expect(toHead[0]!.text).toContain('Recovery plan for ThinkPad X1');

  const row = await stack.db.assetRecovery.findUniqueOrThrow({ where: { id: recoveryId } });
  expect(row.recoveryPlan).toBe(second.recoveryPlan);
  expect((await stack.db.asset.findUniqueOrThrow({ where: { tag: `${employeeId}-LT` } })).status).toBe(
    'return_in_progress',
  );
  const chain = await custody(recoveryId);
  expect(chain.map((c) => c.event)).toEqual([
    'label_issued',
    'requested',
    'marked_return_in_progress',
    'escalated_it',
    'escalated_department_head',
  ]);
  expect(chain[4]!.details).toMatchObject({
    recoveryPlan: second.recoveryPlan,
    departmentHeadMissing: false,
  });
  const audits = await stack.db.auditEvent.findMany({
    where: { departureId: d.id, action: { startsWith: 'asset_escalated' } },
  });
  expect(audits.map((a) => a.action).sort()).toEqual([
    'asset_escalated_department_head',
    'asset_escalated_it',
  ]);
});

test('no department head on record: the second escalation goes to the IT owner and says so', async () => {
  const tag = uniq('nohead');
  const employeeId = uniq('E');
  const d = await departure(employeeId, { workLocation: 'in_office', departmentHeadEmail: null });
  await stack.db.asset.create({
    data: { tag: `${employeeId}-PH`, name: 'Pixel 8', category: 'phone', assignedToEmployeeId: employeeId },
  });
  const acts = activities(catalogWith(tag), createBuiltinAssetSystem(stack.db));
  const run = runner();
  const { recoveryId } = (await run(acts.planAssetRecovery, { departureId: d.id })).assets[0]!;
  const r = await run(acts.escalateOverdueAsset, {
    departureId: d.id,
    recoveryId,
    level: 'department_head',
  });
  expect(r.notified).toEqual([`it-owner-${tag}@example.com`]);
  const [m] = await mails(
    (x) => x.purpose === 'asset_escalated_department_head' && x.to.includes(`it-owner-${tag}@example.com`),
    1,
  );
  expect(m!.text).toMatch(/No department head is on record/);
  expect((await custody(recoveryId))[0]!.details).toMatchObject({ departmentHeadMissing: true });
});

// -------------------------------------------------------------------------------------------- no assets

test('a departure with no assets records that fact (once), in the register and in Snipe-IT', async () => {
  const run = runner();
  for (const system of ['builtin', 'snipeit'] as const) {
    const employeeId = uniq('E');
    const d = await departure(employeeId, { workLocation: 'remote' });
    const catalog = catalogWith(uniq('t'), { system });
    const acts = activities(
      catalog,
      system === 'snipeit' ? snipeSystem(catalog) : createBuiltinAssetSystem(stack.db),
    );
    const plan = await run(acts.planAssetRecovery, { departureId: d.id });
    expect(plan.assets).toEqual([]);
    await run(acts.planAssetRecovery, { departureId: d.id });
    const rows = await stack.db.auditEvent.findMany({
      where: { departureId: d.id, action: 'no_assets_assigned' },
    });
    expect(rows).toHaveLength(1);
    expect(rows[0]!.details).toMatchObject({ system, employeeId });
  }
});

// ------------------------------------------------------------------------------------ Snipe-IT's errors

describe("Snipe-IT's errors are mapped to the connector errors", () => {
  const cfg = () => ({
    baseUrl: snipe.url,
    tokenEnv: 'SNIPE_IT_TOKEN',
    returnInProgressStatusId: SNIPEIT_STATUS.returnInProgress,
    checkedInStatusId: SNIPEIT_STATUS.readyToDeploy,
  });
  const who = () => ({ employeeId: uniq('E'), workEmail: 'nobody@example.com' });

  afterEach(() => snipe.control.clearFaults());

  test('401 (wrong token) → TargetAuthError', async () => {
    const sys = createSnipeItAssetSystem(cfg(), 'not-the-token');
    await expect(sys.listAssigned(who())).rejects.toThrow(TargetAuthError);
    await expect(sys.listAssigned(who())).rejects.toThrow(/401 Unauthorized or unauthenticated/);
  });

  test('429 with Retry-After → TargetThrottledError, and the activity sets the next retry delay from it', async () => {
    const sys = createSnipeItAssetSystem(cfg(), SNIPE_TOKEN);
    snipe.control.inject({ status: 429, times: 1, retryAfterSeconds: 7, pathIncludes: '/api/v1/users' });
    const err = await sys.listAssigned(who()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TargetThrottledError);
    expect((err as TargetThrottledError).retryAfterMs).toBe(7000);

    const employeeId = uniq('E');
    const d = await departure(employeeId, { workLocation: 'remote' });
    const acts = activities(catalogWith(uniq('t')), sys);
    snipe.control.inject({ status: 429, times: 1, retryAfterSeconds: 3, pathIncludes: '/api/v1/users' });
    const failure = await rejection(runner()(acts.planAssetRecovery, { departureId: d.id }));
    expect(failure.type).toBe('TargetThrottledError');
    expect(failure.nextRetryDelay).toBe(3000);
  });

  test('HTTP 200 with {status:"error"} → TargetRejectedError (unknown asset, invalid status label)', async () => {
    const sys = createSnipeItAssetSystem(cfg(), SNIPE_TOKEN);
    await expect(sys.checkIn('999999', 'x')).rejects.toThrow(TargetRejectedError);
    await expect(sys.checkIn('999999', 'x')).rejects.toThrow(/Asset not found/);
    const user = snipe.seedUser({ employee_num: uniq('E'), first_name: 'A', last_name: 'B' });
    const a = snipe.seedAsset({ asset_tag: uniq('TAG'), name: 'Laptop', assignedTo: user.id });
    const wrongLabel = createSnipeItAssetSystem({ ...cfg(), returnInProgressStatusId: 99 }, SNIPE_TOKEN);
    await expect(wrongLabel.markReturnInProgress(String(a.id), 'x')).rejects.toThrow(
      /status_id: The selected status id is invalid/,
    );
    expect(a.statusChanges).toBe(0);
  });

  test('5xx and a closed port → TargetUnavailableError; checking in a checked-in asset is success', async () => {
    const sys = createSnipeItAssetSystem(cfg(), SNIPE_TOKEN);
    snipe.control.inject({ status: 503, times: 1, pathIncludes: '/api/v1/users' });
    await expect(sys.listAssigned(who())).rejects.toThrow(TargetUnavailableError);
    const down = createSnipeItAssetSystem({ ...cfg(), baseUrl: 'http://127.0.0.1:1' }, SNIPE_TOKEN);
    await expect(down.listAssigned(who())).rejects.toThrow(TargetUnavailableError);

    const a = snipe.seedAsset({ asset_tag: uniq('TAG'), name: 'Laptop', assignedTo: null });
    await sys.checkIn(String(a.id), 'again');
    expect(a.checkins).toBe(0);
    expect(snipe.control.count(`/hardware/${a.id}/checkin`)).toBe(0);
  });
});
