/**
 * The audit chain head export as the worker runs it (workers/audit-export.ts, docs/operations.md): a
 * worker process with AUDIT_EXPORT_DIR creates the Temporal schedule (exporting at once), serves the
 * export task queue, and each run writes a signed file; ensuring the schedule again updates it in
 * place; a missing directory stops the worker at start. Also the settings (config/env.ts) and
 * `offboard audit-key`.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ScheduleNotFoundError } from '@temporalio/client';
import { run } from '../cli/main';
import { loadConfig } from '../config/env';
import { auditExportScheduleId, auditExportTaskQueue } from '../contract';
import { AUDIT_EXPORT_FILE, auditExportSignatureValid, signAuditExport } from '../lib/audit-export';
import { mintSigningKey, parsePublicKeys, parseSigningKey } from '../lib/audit-key';
import { ensureAuditExportSchedule } from '../workers/audit-export';
import { startWorkerInProcess } from '../workers/main';
import {
  CODEC_KEYS_SPEC,
  SECRETS,
  catalogYaml,
  env,
  eventually,
  quietLogger,
  startStack,
  uniq,
  workflowBundlePath,
  type Stack,
} from './support/harness';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

const pair = mintSigningKey('sched-1');

function workerEnv(more: Record<string, string>): NodeJS.ProcessEnv {
  const catalogFile = path.join(env.root, `${uniq('catalog')}.yaml`);
  writeFileSync(catalogFile, catalogYaml(stack.standIns));
  return {
    ...SECRETS,
    DATABASE_URL: stack.databaseUrl,
    TEMPORAL_ADDRESS: env.temporalAddress,
    TEMPORAL_TASK_QUEUE: uniq('tq-export'),
    CATALOG_FILE: catalogFile,
    SMTP_URL: stack.mail.url,
    WORKFLOW_BUNDLE: workflowBundlePath(),
    PAYLOAD_CODEC_KEYS: CODEC_KEYS_SPEC,
    LOG_LEVEL: 'silent',
    ...more,
  };
}

test('a worker with AUDIT_EXPORT_DIR creates the schedule, exports at once, and on every run', async () => {
  const dir = mkdtempSync(path.join(env.root, `${uniq('exports')}-`));
  const e = workerEnv({
    AUDIT_EXPORT_DIR: dir,
    AUDIT_EXPORT_SIGNING_KEY: pair.signingKey,
    AUDIT_EXPORT_INTERVAL: '2h',
  });
  const taskQueue = e.TEMPORAL_TASK_QUEUE!;
  const handle = stack.client.schedule.getHandle(auditExportScheduleId(taskQueue));
  const worker = await startWorkerInProcess(e, quietLogger);
  const files = () => readdirSync(dir).filter((f) => AUDIT_EXPORT_FILE.test(f));
  try {
    const d = await eventually(() => handle.describe(), 30_000, 'the export schedule');
    expect(d.action).toMatchObject({
      type: 'startWorkflow',
      workflowType: 'auditExportWorkflow',
      taskQueue,
      args: [{ exportTaskQueue: auditExportTaskQueue(taskQueue) }],
    });
    expect(d.spec.intervals?.map((i) => i.every)).toEqual([7_200_000]);
    // The first export at once (not two hours later), by the worker serving the export queue.
    await eventually(async () => files().length >= 1, 60_000, 'the first export');
    await handle.trigger();
    await eventually(async () => files().length >= 2, 60_000, 'the triggered export');
    const parsed = parsePublicKeys(pair.publicKey);
    if ('errors' in parsed) throw new Error(parsed.errors.join('; '));
    const [key] = parsed.keys;
    for (const f of files()) {
      const content = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as Record<string, unknown>;
      expect(content).toMatchObject({ format: 'offboard-audit-head/1', keyId: 'sched-1' });
      expect(auditExportSignatureValid(content, key!.key)).toBe(true);
    }
    // Ensuring again (another worker, a new interval) updates it in place.
    await ensureAuditExportSchedule(stack.client, { intervalMs: 3_600_000, taskQueue });
    expect((await handle.describe()).spec.intervals?.map((i) => i.every)).toEqual([3_600_000]);
  } finally {
    await worker.stop();
    await handle.delete().catch(() => undefined);
  }
}, 180_000);

test('a worker without AUDIT_EXPORT_DIR creates no schedule; a missing directory stops it at start', async () => {
  const e = workerEnv({});
  const worker = await startWorkerInProcess(e, quietLogger);
  try {
    // The worker has connected; give a schedule it would create time to appear.
    await new Promise((r) => setTimeout(r, 1_000));
    await expect(
      stack.client.schedule.getHandle(auditExportScheduleId(e.TEMPORAL_TASK_QUEUE!)).describe(),
    ).rejects.toBeInstanceOf(ScheduleNotFoundError);
  } finally {
    await worker.stop();
  }
  const missing = path.join(env.root, uniq('no-such-dir'));
  await expect(
    startWorkerInProcess(
      workerEnv({ AUDIT_EXPORT_DIR: missing, AUDIT_EXPORT_SIGNING_KEY: pair.signingKey }),
      quietLogger,
    ),
  ).rejects.toThrow(`AUDIT_EXPORT_DIR: ${missing} does not exist`);
});

describe('settings', () => {
  const base = { DATABASE_URL: 'postgresql://x@127.0.0.1/x' };
  const errorOf = (more: Record<string, string>) => {
    try {
      loadConfig({ ...base, ...more });
    } catch (e) {
      return (e as Error).message;
    }
    throw new Error('accepted');
  };

  test('defaults, and a configured export', () => {
    const cfg = loadConfig(base);
    expect(cfg.AUDIT_EXPORT_DIR).toBeUndefined();
    expect(cfg.AUDIT_EXPORT_INTERVAL).toBe('1h');
    const on = loadConfig({
      ...base,
      AUDIT_EXPORT_DIR: '/evidence',
      AUDIT_EXPORT_SIGNING_KEY: pair.signingKey,
    });
    expect(on.AUDIT_EXPORT_SIGNING_KEY).toMatchObject({ keyId: 'sched-1', publicKey: pair.publicKey });
    // The parsed key shows no key material in logs or JSON.
    expect(JSON.stringify(on.AUDIT_EXPORT_SIGNING_KEY)).not.toContain(pair.signingKey.split(':')[1]);
  });

  test.each([
    [
      'AUDIT_EXPORT_SIGNING_KEY',
      'no-colon-here',
      /AUDIT_EXPORT_SIGNING_KEY: must be keyId:base64 of a 32-byte Ed25519 private key/,
    ],
    ['AUDIT_EXPORT_SIGNING_KEY', 'k 1:AAAA', /AUDIT_EXPORT_SIGNING_KEY: .*the key id before ":" must be/],
    ['AUDIT_EXPORT_SIGNING_KEY', 'k1:c2hvcnQ=', /AUDIT_EXPORT_SIGNING_KEY: .*holds 5 bytes, not 32/],
    ['AUDIT_EXPORT_SIGNING_KEY', 'k1:not base64!', /AUDIT_EXPORT_SIGNING_KEY: .*is not base64/],
    ['AUDIT_EXPORT_INTERVAL', '30s', /AUDIT_EXPORT_INTERVAL: must be at least 1m/],
    ['AUDIT_EXPORT_INTERVAL', 'hourly', /AUDIT_EXPORT_INTERVAL: a duration such as/],
    ['AUDIT_EXPORT_DIR', '  ', /AUDIT_EXPORT_DIR: must be a directory path/],
  ])('%s=%j is refused, naming the setting and not echoing a key', (name, value, error) => {
    const msg = errorOf({ [name]: value });
    expect(msg).toMatch(error);
    if (name === 'AUDIT_EXPORT_SIGNING_KEY') expect(msg).not.toContain(value.split(':').at(-1));
  });
});

test('`offboard audit-key` mints a pair that signs and verifies; --public prints the configured key', async () => {
  const out: string[] = [];
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((s) => {
    out.push(String(s));
    return true;
  });
  const saved = process.env.AUDIT_EXPORT_SIGNING_KEY;
  let codes: number[];
  try {
    codes = [await run(['audit-key', '--key-id', 'rot-2'])];
    const minted = /^AUDIT_EXPORT_SIGNING_KEY (\S+)$/m.exec(out.join(''))?.[1] ?? '';
    const mintedPublic = /^AUDIT_EXPORT_PUBLIC_KEYS (\S+)$/m.exec(out.join(''))?.[1];
    process.env.AUDIT_EXPORT_SIGNING_KEY = minted;
    out.length = 0;
    codes.push(await run(['audit-key', '--public']));
    codes.push(await run(['audit-key', '--key-id', 'bad id']));
    const key = parseSigningKey(minted);
    if ('error' in key) throw new Error(key.error);
    expect(key.keyId).toBe('rot-2');
    expect(mintedPublic).toBe(key.publicKey);
    const verifying = parsePublicKeys(mintedPublic!);
    if ('errors' in verifying) throw new Error(verifying.errors.join('; '));
    const signed = signAuditExport(
      {
        format: 'offboard-audit-head/1',
        sequence: 1,
        exportedAt: new Date().toISOString(),
        head: null,
        rows: '0',
      },
      key,
    );
    expect(auditExportSignatureValid({ ...signed }, verifying.keys[0]!.key)).toBe(true);
    expect(auditExportSignatureValid({ ...signed, rows: '1' }, verifying.keys[0]!.key)).toBe(false);
    expect(out.join('')).toBe(`AUDIT_EXPORT_PUBLIC_KEYS ${key.publicKey}\n`);
  } finally {
    spy.mockRestore();
    if (saved === undefined) delete process.env.AUDIT_EXPORT_SIGNING_KEY;
    else process.env.AUDIT_EXPORT_SIGNING_KEY = saved;
  }
  expect(codes).toEqual([0, 0, 64]);
});
