/**
 * `npm run demo:fire [employeeId] [--resigned]`: sends a signed sample HRIS event (Standard Webhooks) to
 * the running embedded setup, as an HR system would: an involuntary termination effective today, or
 * with `--resigned` a resignation whose last day is two weeks out (a notice period: accounts scoped at
 * once, revoked when the last day ends). Uses the secret kept in `.data/secrets.json` unless
 * HRIS_WEBHOOK_SECRET is set.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { signDelivery } from '../lib/webhook-sign';
import { DEMO_EMPLOYEES } from './demo';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const resigned = args.includes('--resigned');
  const id = args.find((a) => !a.startsWith('--')) ?? 'E-1042';
  const e = DEMO_EMPLOYEES.find((x) => x.id === id);
  if (!e)
    throw new Error(`unknown demo employee ${id}; one of ${DEMO_EMPLOYEES.map((x) => x.id).join(', ')}`);
  const secret =
    process.env.HRIS_WEBHOOK_SECRET ??
    (
      JSON.parse(readFileSync(path.resolve(__dirname, '..', '.data', 'secrets.json'), 'utf8')) as {
        HRIS_WEBHOOK_SECRET: string;
      }
    ).HRIS_WEBHOOK_SECRET;
  const url = process.env.OFFBOARD_URL ?? `http://127.0.0.1:${process.env.PORT ?? 3000}`;
  const now = new Date();
  const event = {
    type: 'employee.status_changed',
    occurredAt: now.toISOString(),
    employee: {
      id: e.id,
      name: e.name,
      workEmail: e.workEmail,
      personalEmail: e.personalEmail,
      department: e.department,
      managerEmail: 'lee@example.com',
      departmentHeadEmail: 'kim@example.com',
      workLocation: 'remote',
    },
    status: 'terminated',
    termination: {
      type: resigned ? 'voluntary' : 'involuntary',
      confirmedAt: now.toISOString(),
      lastDay: new Date(now.getTime() + (resigned ? 14 : 0) * 86_400_000).toISOString().slice(0, 10),
    },
  };
  const d = signDelivery(secret, event);
  const res = await fetch(`${url}/webhooks/hris`, { method: 'POST', headers: d.headers, body: d.body });
  console.log(`POST ${url}/webhooks/hris (webhook-id ${d.headers['webhook-id']}) -> ${res.status}`);
  console.log(await res.text());
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
