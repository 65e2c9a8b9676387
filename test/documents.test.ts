/**
 * Compliance documents, checked by opening them: PDFs are parsed back to text (pdf-parse, in a child
 * process) and every stored hash is recomputed from the stored bytes; emails are read back from a real
 * SMTP server; the signing and survey pages run in the real API against real PostgreSQL.
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { createHash } from 'node:crypto';
import { createDocumentActivities, type DocumentActivities } from '../activities/documents';
import { TargetRejectedError } from '../activities/errors';
import type { Catalog } from '../config/catalog';
import { OFFBOARDING_WORKFLOW } from '../contract';
import type { RunningServer } from '../server/main';
import { TOKENS, createDeparture, startApi, startStack, uniq, type Stack } from './support/harness';
import { pdfText } from './support/pdf-text';

let stack: Stack;
let api: RunningServer;
let catalog: Catalog;
let acts: DocumentActivities;

const sha256 = (b: Uint8Array | Buffer | string) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  stack = await startStack();
  api = await startApi(stack);
  catalog = {
    ...stack.catalog,
    organization: {
      ...stack.catalog.organization,
      finance: { name: 'Payroll Team', email: 'payroll@example.com' },
      benefits: { name: 'Benefits Desk', email: 'benefits-desk@example.com' },
    },
    dataSources: [
      {
        id: 'mailbox',
        name: 'Exchange mailbox',
        retentionPolicy: 'email-7y',
        archiveLocation: 's3://archive/mail/',
        deleteAfterArchive: true,
        owner: { name: 'Mail Owner', email: 'mail-owner@example.com' },
        connector: { kind: 'manual' },
      },
      {
        id: 'drive',
        name: 'Shared drive',
        retentionPolicy: 'files-3y',
        archiveLocation: 's3://archive/drive',
        deleteAfterArchive: false,
        owner: { name: 'Drive Owner', email: 'drive-owner@example.com' },
        connector: { kind: 'manual' },
      },
    ],
  };
  acts = createDocumentActivities({ db: stack.db, catalog, mailer: stack.mailer, publicUrl: api.url });
});
afterAll(async () => {
  await api?.close();
  await stack?.stop();
});

/** A departure the dispatcher leaves alone (already started), with a personal address unless told. */
async function departure(
  opts: { personalEmail?: string | null; employeeName?: string; legalHold?: boolean; lastDay?: string } = {},
) {
  const employeeId = uniq('E-DOC');
  const input = await createDeparture(stack.db, employeeId, { lastDay: opts.lastDay ?? '2026-11-25' });
  const d = await stack.db.departure.update({
    where: { id: input.departureId },
    data: {
      status: 'completed',
      workflowStartedAt: new Date(),
      personalEmail:
        opts.personalEmail === undefined
          ? `${employeeId.toLowerCase()}@personal.example.net`
          : opts.personalEmail,
      legalHold: opts.legalHold ?? false,
      ...(opts.employeeName ? { employeeName: opts.employeeName } : {}),
    },
  });
  return d;
}

const linkIn = (text: string, kind: 'sign' | 'survey') => {
  const m = new RegExp(`(http://[^\\s]+/${kind}/([A-Za-z0-9_-]{43}))`).exec(text);
  if (!m) throw new Error(`no ${kind} link in: ${text}`);
  return { url: m[1]!, token: m[2]! };
};

const form = (url: string, fields: Record<string, string>) =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  }).then(async (r) => ({
    status: r.status,
    html: await r.text(),
    type: r.headers.get('content-type') ?? '',
  }));

const get = (url: string) =>
  fetch(url).then(async (r) => ({
    status: r.status,
    html: await r.text(),
    type: r.headers.get('content-type') ?? '',
  }));

const settle = () => new Promise((r) => setTimeout(r, 300));

test('the completion certificate PDF lists every action with its system, times and final status; its hash is that of the stored bytes', async () => {
  const d = await departure();
  const t0 = new Date('2026-11-25T14:00:01.000Z');
  const steps = [
    {
      systemId: 'entra',
      systemName: 'Microsoft Entra ID',
      action: 'disable_account',
      status: 'green',
      tier: 'identity',
    },
    {
      systemId: 'ldap',
      systemName: 'Corporate directory',
      action: 'disable_account',
      status: 'red',
      tier: 'directory',
    },
    {
      systemId: 'badge',
      systemName: 'Door badges',
      action: 'revoke_access',
      status: 'yellow',
      tier: 'application',
    },
    { systemId: 'crm', systemName: 'CRM', action: 'deactivate_user', status: 'halted', tier: 'application' },
  ];
  await stack.db.stepRecord.createMany({
    data: steps.map((s, i) => ({
      departureId: d.id,
      ...s,
      ordinal: i,
      executingSystem: `${s.systemId} @ http://127.0.0.1/${s.systemId}`,
      attempts: i + 1,
      startedAt: t0,
      actedAt: s.status === 'halted' ? null : t0,
      confirmedAt: s.status === 'green' ? t0 : null,
      finishedAt: ['green', 'red', 'halted'].includes(s.status) ? t0 : null,
      lastError: s.status === 'red' ? 'TargetUnavailableError: slapd did not answer' : null,
      // What matching found is evidence on the step, and on the certificate.
      ...(s.systemId === 'entra'
        ? {
            evidence: {
              match: {
                outcome: 'found',
                by: 'employeeId',
                account: { id: 'obj-1', name: 'Dana Reyes <dana.old@example.com>' },
                keys: [
                  { key: 'employeeId', value: d.employeeId, found: [{ id: 'obj-1', name: 'Dana Reyes' }] },
                  { key: 'userPrincipalName', value: d.workEmail, found: [] },
                ],
                candidates: [{ id: 'obj-1', name: 'Dana Reyes <dana.old@example.com>' }],
                protectedBy: null,
              },
            },
          }
        : {}),
    })),
  });
  const rec = await stack.db.assetRecovery.create({
    data: {
      departureId: d.id,
      assetSource: 'builtin',
      assetId: uniq('asset'),
      assetTag: uniq('LAP'),
      assetName: 'Laptop 14"',
      route: 'remote',
      status: 'escalated_it',
      dueAt: t0,
    },
  });
  await stack.db.custodyEntry.create({
    data: { recoveryId: rec.id, event: 'escalated_it', actor: 'workflow', at: t0 },
  });
  await stack.db.document.create({
    data: {
      departureId: d.id,
      type: 'payroll_notification',
      status: 'delivered',
      sha256: 'ab'.repeat(32),
      issuedAt: t0,
    },
  });

  const chainHead = 'c0ffee'.repeat(10) + 'beef';
  const r = await acts.generateCompletionCertificate({ departureId: d.id, auditChainHead: chainHead });
  const doc = await stack.db.document.findUniqueOrThrow({ where: { id: r.documentId } });
  expect(doc).toMatchObject({
    type: 'completion_certificate',
    status: 'generated',
    contentType: 'application/pdf',
    storageLocation: `db:Document/${doc.id}`,
  });
  expect(doc.issuedAt).toBeInstanceOf(Date);
  expect(sha256(doc.content!)).toBe(doc.sha256);
  expect(r.sha256).toBe(doc.sha256);
  expect(Buffer.from(doc.content!).subarray(0, 5).toString()).toBe('%PDF-');

  const text = pdfText(doc.content!);
  expect(text).toContain('Offboarding completion certificate');
  expect(text).toContain(d.id);
  expect(text).toContain(`${d.employeeName} (${d.employeeId})`);
  expect(text).toContain('Finance');
  // Issued as the offboarding completes, before the row says so: not "Departure status: accepted".
  expect(text).toContain(
    `Departure status: completed with this certificate (recorded status until then: ${d.status})`,
  );
  for (const s of steps) {
    expect(text).toContain(`${s.systemName} (${s.systemId}) - ${s.action} - final status: ${s.status}`);
    expect(text).toContain(`Executing system: ${s.systemId} @ http://127.0.0.1/${s.systemId}`);
  }
  expect(text).toContain(`Started: ${t0.toISOString()}`);
  expect(text).toContain('slapd did not answer');
  expect(text).toContain(
    'Account: matched by employeeId: Dana Reyes <dana.old@example.com> (obj-1); nothing under userPrincipalName',
  );
  expect(text).toContain(`${rec.assetTag} Laptop 14" - remote - final status: escalated_it`);
  expect(text).toContain(`Escalated: ${t0.toISOString()}`);
  expect(text).toContain('payroll_notification - final status: delivered');
  expect(text).toContain(`SHA-256: ${'ab'.repeat(32)}`);
  expect(text).toContain(`Audit chain head: ${chainHead}`);

  // Written once: a retry returns the stored certificate, byte for byte.
  const again = await acts.generateCompletionCertificate({ departureId: d.id });
  expect(again).toEqual({ documentId: doc.id, sha256: doc.sha256, alreadyGenerated: true });
  const after = await stack.db.document.findUniqueOrThrow({ where: { id: doc.id } });
  expect(sha256(after.content!)).toBe(doc.sha256);
  expect(
    await stack.db.auditEvent.count({ where: { departureId: d.id, action: 'document_generated' } }),
  ).toBe(1);
});

test('archiving without legal hold: a manifest per data source, the owner tasked once, deletion asked only where the catalog says so; the confirmation lists it', async () => {
  const d = await departure();
  const mailbox = await acts.archiveDataSource({ departureId: d.id, sourceId: 'mailbox' });
  const drive = await acts.archiveDataSource({ departureId: d.id, sourceId: 'drive' });
  await acts.archiveDataSource({ departureId: d.id, sourceId: 'mailbox' }); // a retry
  expect(mailbox).toMatchObject({
    sourceId: 'mailbox',
    status: 'pending',
    retentionPolicy: 'email-7y',
    location: `s3://archive/mail/${d.id}`,
    deletion: 'requested',
    ownerEmail: 'mail-owner@example.com',
  });
  expect(drive).toMatchObject({ location: `s3://archive/drive/${d.id}`, deletion: 'not_configured' });
  const rec = await stack.db.archiveRecord.findUniqueOrThrow({
    where: { departureId_sourceId: { departureId: d.id, sourceId: 'mailbox' } },
  });
  expect(rec).toMatchObject({ retentionPolicy: 'email-7y', location: `s3://archive/mail/${d.id}` });
  expect(rec.details).toMatchObject({
    deletion: 'requested',
    manifest: { account: d.workEmail, legalHold: false },
  });

  const task = await stack.mail.waitFor(
    (m) => m.to.includes('mail-owner@example.com') && m.text.includes(d.id),
  );
  expect(task.text).toContain(`s3://archive/mail/${d.id}`);
  expect(task.text).toContain('email-7y');
  expect(task.text).toContain('delete the source data');
  const driveTask = await stack.mail.waitFor(
    (m) => m.to.includes('drive-owner@example.com') && m.text.includes(d.id),
  );
  expect(driveTask.text).toContain('Do not delete');
  await settle();
  expect(
    stack.mail.messages.filter((m) => m.to.includes('mail-owner@example.com') && m.text.includes(d.id)),
  ).toHaveLength(1);
  expect(
    await stack.db.auditEvent.count({ where: { departureId: d.id, action: 'deletion_blocked_legal_hold' } }),
  ).toBe(0);

  const conf = await acts.recordDataArchivingConfirmation({ departureId: d.id });
  const doc = await stack.db.document.findUniqueOrThrow({ where: { id: conf.documentId } });
  expect(doc).toMatchObject({
    type: 'data_archiving_confirmation',
    status: 'generated',
    contentType: 'application/pdf',
  });
  expect(sha256(doc.content!)).toBe(doc.sha256);
  const text = pdfText(doc.content!);
  expect(text).toContain('Exchange mailbox (mailbox) - status: pending');
  expect(text).toContain('Retention policy: email-7y');
  expect(text).toContain(`Where: s3://archive/mail/${d.id}`);
  expect(text).toContain('Deletion of the source data: requested');
  expect(text).toContain('Shared drive (drive)');
  expect(text).toContain('Retention policy: files-3y');
  // Unchanged records: the same bytes, nothing replaced.
  const again = await acts.recordDataArchivingConfirmation({ departureId: d.id });
  expect(again).toMatchObject({ documentId: doc.id, sha256: doc.sha256, changed: false });
});

test('data-archiving confirmation: what a green step handed over to the manager, as of that step', async () => {
  const d = await departure();
  const first = await acts.recordDataArchivingConfirmation({ departureId: d.id });
  expect(
    pdfText((await stack.db.document.findUniqueOrThrow({ where: { id: first.documentId } })).content!),
  ).not.toContain('Handed over to the manager');
  // The Google Workspace step's evidence as the connector records it (activities/google.ts).
  const handover = {
    manager: 'lee@example.com',
    managerId: '1001',
    mail: { mode: 'delegate', delegate: 'lee@example.com', verificationStatus: 'accepted' },
    transfer: {
      id: 'AKrEtIbDemo1',
      status: 'completed',
      requestTime: '2026-11-25T14:05:00.000Z',
      applications: [
        {
          id: '55656082996',
          name: 'Drive and Docs',
          status: 'completed',
          params: ['PRIVACY_LEVEL=PRIVATE+SHARED'],
        },
        { id: '435070579839', name: 'Calendar', status: 'completed', params: ['RELEASE_RESOURCES=TRUE'] },
      ],
    },
  };
  const t0 = new Date('2026-11-25T14:06:00Z');
  const step = (systemId: string, status: string, evidence: object, i: number) => ({
    departureId: d.id,
    systemId,
    systemName: systemId === 'google' ? 'Google Workspace' : systemId,
    action: systemId === 'google' ? 'handover_suspend_signout_tokens_2sv_groups_devices' : 'disable_account',
    status,
    tier: 'identity',
    ordinal: i,
    executingSystem: `${systemId} @ 127.0.0.1`,
    confirmedAt: status === 'green' ? t0 : null,
    evidence,
  });
  await stack.db.stepRecord.createMany({
    data: [
      step('entra', 'green', { changes: ['disabled'], confirmation: { accountEnabled: false } }, 0),
      step('google', 'green', { changes: [], confirmation: { suspended: true, handover } }, 1),
      // Not confirmed: not on the document, whatever its evidence says.
      step('google-2', 'red', { confirmation: { handover } }, 2),
    ],
  });
  const google = await stack.db.stepRecord.findFirstOrThrow({
    where: { departureId: d.id, systemId: 'google' },
  });
  const conf = await acts.recordDataArchivingConfirmation({ departureId: d.id });
  expect(conf).toMatchObject({ documentId: first.documentId, changed: true });
  const doc = await stack.db.document.findUniqueOrThrow({ where: { id: conf.documentId } });
  const text = pdfText(doc.content!);
  expect(text).toContain('Handed over to the manager');
  expect(text).toContain(`1. Google Workspace (google) - confirmed: ${t0.toISOString()}`);
  expect(text).toContain(
    'Data transfer AKrEtIbDemo1 to lee@example.com: completed (Drive and Docs PRIVACY_LEVEL=PRIVATE+SHARED; Calendar RELEASE_RESOURCES=TRUE)',
  );
  expect(text).toContain('Mail: lee@example.com is a Gmail delegate (accepted)');
  expect(text).not.toContain('google-2');
  expect(text).toContain(`As of: ${google.updatedAt.toISOString()}`);
  expect(doc.meta).toMatchObject({
    asOf: google.updatedAt.toISOString(),
    handovers: [
      {
        systemId: 'google',
        confirmedAt: t0.toISOString(),
        updatedAt: google.updatedAt.toISOString(),
        lines: [expect.stringContaining('Data transfer AKrEtIbDemo1'), expect.stringContaining('Mail:')],
      },
    ],
  });
  // Unchanged steps: the same bytes.
  expect(await acts.recordDataArchivingConfirmation({ departureId: d.id })).toMatchObject({
    sha256: conf.sha256,
    changed: false,
  });
});

test('legal hold: no deletion is ever asked for, the block is audited once; a hold found later withdraws an earlier deletion request', async () => {
  const held = await departure({ legalHold: true });
  const r = await acts.archiveDataSource({ departureId: held.id, sourceId: 'mailbox' });
  await acts.archiveDataSource({ departureId: held.id, sourceId: 'mailbox' });
  expect(r).toMatchObject({ deletion: 'skipped_legal_hold', retentionPolicy: 'email-7y' });
  const rec = await stack.db.archiveRecord.findUniqueOrThrow({
    where: { departureId_sourceId: { departureId: held.id, sourceId: 'mailbox' } },
  });
  expect(rec.details).toMatchObject({ deletion: 'skipped_legal_hold', manifest: { legalHold: true } });
  const task = await stack.mail.waitFor(
    (m) => m.to.includes('mail-owner@example.com') && m.text.includes(held.id),
  );
  expect(task.text).toContain('DO NOT DELETE');
  expect(task.text).not.toContain('delete the source data');
  const audits = await stack.db.auditEvent.findMany({
    where: { departureId: held.id, action: 'deletion_blocked_legal_hold' },
  });
  expect(audits).toHaveLength(1);
  expect(audits[0]!.details).toMatchObject({ sourceId: 'mailbox' });
  const conf = await acts.recordDataArchivingConfirmation({ departureId: held.id });
  const text = pdfText(
    (await stack.db.document.findUniqueOrThrow({ where: { id: conf.documentId } })).content!,
  );
  expect(text).toContain('Legal hold: yes: no source data may be deleted');
  expect(text).toContain('Deletion of the source data: skipped_legal_hold');

  // Deletion asked for first, then the hold arrives: the request is withdrawn and the owner told.
  const later = await departure();
  expect((await acts.archiveDataSource({ departureId: later.id, sourceId: 'mailbox' })).deletion).toBe(
    'requested',
  );
  await stack.db.departure.update({ where: { id: later.id }, data: { legalHold: true } });
  expect((await acts.archiveDataSource({ departureId: later.id, sourceId: 'mailbox' })).deletion).toBe(
    'skipped_legal_hold',
  );
  const stop = await stack.mail.waitFor(
    (m) => m.subject.includes('LEGAL HOLD') && m.text.includes(later.employeeId),
  );
  expect(stop.to).toEqual(['mail-owner@example.com']);
  expect(stop.text).toContain('WITHDRAWN');
  expect(
    await stack.db.auditEvent.count({
      where: { departureId: later.id, action: 'deletion_blocked_legal_hold' },
    }),
  ).toBe(1);
});

test('NDA: a single-use link to the personal address; the page shows the text and its hash; signing stores a signed copy once and signals the workflow', async () => {
  const d = await departure({ employeeName: 'Dana <i>Reyes</i> & Co' });
  const sent = await acts.sendNdaForSignature({ departureId: d.id });
  const retry = await acts.sendNdaForSignature({ departureId: d.id });
  expect(sent).toMatchObject({ status: 'sent', alreadySent: false, requestId: `builtin:${sent.documentId}` });
  expect(retry).toMatchObject({ documentId: sent.documentId, status: 'sent', alreadySent: true });

  const mail = await stack.mail.waitFor(
    (m) => m.to.includes(d.personalEmail!) && m.purpose === 'nda_signature_request',
  );
  expect(mail.to).toEqual([d.personalEmail]);
  expect(mail.to).not.toContain(d.workEmail);
  await settle();
  expect(stack.mail.to(d.personalEmail!).filter((m) => m.purpose === 'nda_signature_request')).toHaveLength(
    1,
  );
  expect(stack.mail.to(d.workEmail)).toHaveLength(0);
  const { url, token } = linkIn(mail.text, 'sign');
  expect(url).toBe(`${api.url}/sign/${token}`);

  const sentDoc = await stack.db.document.findUniqueOrThrow({ where: { id: sent.documentId } });
  const ndaSha = (sentDoc.meta as { ndaSha256: string }).ndaSha256;
  expect(sentDoc).toMatchObject({ type: 'nda_acknowledgment', status: 'sent', sha256: ndaSha });
  expect(sha256(sentDoc.content!)).toBe(ndaSha);
  expect(mail.text).toContain(ndaSha);
  // Only the token's hash is stored.
  const links = await stack.db.accessLink.findMany({ where: { documentId: sent.documentId } });
  expect(links).toHaveLength(1);
  expect(links[0]!.tokenSha256).toBe(sha256(token));
  expect(JSON.stringify(links)).not.toContain(token);
  const hours = (links[0]!.expiresAt.getTime() - Date.now()) / 3_600_000;
  expect(hours).toBeGreaterThan(71);
  expect(hours).toBeLessThanOrEqual(72);

  // A workflow to receive the signal (no worker needed: the server records signals in history).
  // (Under heavy load the client may retry a start the server already took: the workflow is there.)
  const handle = await stack.client.workflow
    .start(OFFBOARDING_WORKFLOW, {
      workflowId: d.workflowId,
      taskQueue: uniq('tq-nobody'),
      args: [{ departureId: d.id }],
    })
    .catch((e: unknown) => {
      if (e instanceof WorkflowExecutionAlreadyStartedError)
        return stack.client.workflow.getHandle(d.workflowId);
      throw e;
    });
  try {
    const page = await get(url);
    expect(page.status).toBe(200);
    expect(page.type).toMatch(/text\/html/);
    expect(page.html).toContain(ndaSha);
    expect(page.html).toContain('Dana &lt;i&gt;Reyes&lt;/i&gt; &amp; Co');
    expect(page.html).not.toContain('<i>Reyes');
    expect(page.html).toContain('I acknowledge');

    // No tick: 400 naming the field, nothing stored.
    const bad = await form(url, { fullName: 'Dana Reyes' });
    expect(bad.status).toBe(400);
    expect(bad.html).toContain('href="#acknowledge"');
    expect(bad.html).not.toContain('href="#fullName"');
    expect((await stack.db.document.findUniqueOrThrow({ where: { id: sent.documentId } })).status).toBe(
      'sent',
    );
    expect(
      (await stack.db.accessLink.findFirstOrThrow({ where: { documentId: sent.documentId } })).usedAt,
    ).toBeNull();

    const ok = await form(url, { fullName: 'Dana Reyes', acknowledge: 'yes' });
    expect(ok.status).toBe(200);
    expect(ok.html).toContain('signed');
    const signed = await stack.db.document.findUniqueOrThrow({ where: { id: sent.documentId } });
    const meta = signed.meta as Record<string, string>;
    expect(signed).toMatchObject({
      status: 'signed',
      contentType: 'application/pdf',
      storageLocation: `db:Document/${signed.id}`,
    });
    expect(signed.completedAt).toBeInstanceOf(Date);
    expect(meta).toMatchObject({ signerName: 'Dana Reyes', ndaSha256: ndaSha });
    expect(meta.ip).toMatch(/127\.0\.0\.1|::1/);
    expect(sha256(signed.content!)).toBe(signed.sha256);
    expect(signed.sha256).not.toBe(ndaSha);
    const text = pdfText(signed.content!);
    expect(text).toContain('Signed by: Dana Reyes');
    expect(text).toContain(`Signed at: ${meta.signedAt}`);
    expect(text).toContain(`IP address: ${meta.ip}`);
    expect(text).toContain(`Document SHA-256: ${ndaSha}`);
    expect(text).toContain('confidentiality and non-disclosure obligations');
    const link = await stack.db.accessLink.findFirstOrThrow({ where: { documentId: sent.documentId } });
    expect(link.usedAt).toBeInstanceOf(Date);
    expect(link.usedFromIp).toBe(meta.ip);
    expect(await stack.db.auditEvent.count({ where: { departureId: d.id, action: 'nda_signed' } })).toBe(1);

    // Single use: the second POST and a later GET are refused, and nothing changes.
    const second = await form(url, { fullName: 'Somebody Else', acknowledge: 'yes' });
    expect(second.status).toBe(410);
    expect(second.html).toContain('already used');
    expect((await get(url)).status).toBe(410);
    const still = await stack.db.document.findUniqueOrThrow({ where: { id: sent.documentId } });
    expect(still.sha256).toBe(signed.sha256);
    expect((still.meta as Record<string, string>).signerName).toBe('Dana Reyes');

    // The running workflow got documentSigned.
    const history = await handle.fetchHistory();
    const signals = (history.events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes);
    expect(signals.map((e) => e.workflowExecutionSignaledEventAttributes!.signalName)).toEqual([
      'documentSigned',
    ]);

    // Signed: reminders stop, expiry leaves it signed, a new send does nothing.
    expect(await acts.remindNda({ departureId: d.id, reminder: 1 })).toMatchObject({
      signed: true,
      reminded: false,
    });
    expect(await acts.expireNda({ departureId: d.id })).toEqual({
      documentId: sent.documentId,
      status: 'signed',
    });
    expect(await acts.sendNdaForSignature({ departureId: d.id })).toMatchObject({
      status: 'signed',
      alreadySent: true,
    });
    await settle();
    expect(stack.mail.to(d.personalEmail!)).toHaveLength(1);
  } finally {
    await handle.terminate('test done').catch(() => undefined);
  }
});

test('signing with no workflow running still answers 200 (the database is the evidence) and audits the undelivered signal', async () => {
  const d = await departure();
  const sent = await acts.sendNdaForSignature({ departureId: d.id });
  const mail = await stack.mail.waitFor(
    (m) => m.to.includes(d.personalEmail!) && m.purpose === 'nda_signature_request',
  );
  const ok = await form(linkIn(mail.text, 'sign').url, { fullName: 'Lee Park', acknowledge: 'yes' });
  expect(ok.status).toBe(200);
  expect((await stack.db.document.findUniqueOrThrow({ where: { id: sent.documentId } })).status).toBe(
    'signed',
  );
  expect(
    await stack.db.auditEvent.count({
      where: { departureId: d.id, action: 'document_signed_signal_failed' },
    }),
  ).toBe(1);
});

test('an expired signing link is refused and changes nothing; unknown links are 404', async () => {
  const d = await departure();
  const sent = await acts.sendNdaForSignature({ departureId: d.id });
  const mail = await stack.mail.waitFor(
    (m) => m.to.includes(d.personalEmail!) && m.purpose === 'nda_signature_request',
  );
  const { url, token } = linkIn(mail.text, 'sign');
  await stack.db.accessLink.update({
    where: { tokenSha256: sha256(token) },
    data: { expiresAt: new Date(Date.now() - 1000) },
  });
  const page = await get(url);
  expect(page.status).toBe(410);
  expect(page.type).toMatch(/text\/html/);
  expect(page.html).toContain('expired');
  const post = await form(url, { fullName: 'Dana Reyes', acknowledge: 'yes' });
  expect(post.status).toBe(410);
  expect(post.html).toContain('expired');
  const doc = await stack.db.document.findUniqueOrThrow({ where: { id: sent.documentId } });
  expect(doc.status).toBe('sent');
  expect(sha256(doc.content!)).toBe((doc.meta as { ndaSha256: string }).ndaSha256);
  expect(
    (await stack.db.accessLink.findUniqueOrThrow({ where: { tokenSha256: sha256(token) } })).usedAt,
  ).toBeNull();
  expect(await stack.db.auditEvent.count({ where: { departureId: d.id, action: 'nda_signed' } })).toBe(0);

  const unknown = await get(`${api.url}/sign/${'A'.repeat(43)}`);
  expect(unknown.status).toBe(404);
  expect(unknown.type).toMatch(/text\/html/);
  expect((await form(`${api.url}/sign/not-a-token`, { fullName: 'x', acknowledge: 'yes' })).status).toBe(404);
  // A survey token is not a signing token.
  expect((await get(`${api.url}/survey/${token}`)).status).toBe(404);
});

test("after a rescission the leaver's signing and survey links answer 410 (withdrawn) and change nothing", async () => {
  const d = await departure();
  await acts.sendNdaForSignature({ departureId: d.id });
  await acts.sendExitSurvey({ departureId: d.id });
  const nda = await stack.mail.waitFor(
    (m) => m.to.includes(d.personalEmail!) && m.purpose === 'nda_signature_request',
  );
  const survey = await stack.mail.waitFor(
    (m) => m.to.includes(d.personalEmail!) && m.purpose === 'exit_survey',
  );
  const sign = linkIn(nda.text, 'sign');
  const answer = linkIn(survey.text, 'survey');
  expect((await get(sign.url)).status).toBe(200);
  // HR rescinds (the API stores the rescission with the departure before it reaches the workflow).
  await stack.db.departure.update({ where: { id: d.id }, data: { rescindedAt: new Date() } });
  for (const url of [sign.url, answer.url]) {
    const page = await get(url);
    expect({ url, status: page.status }).toEqual({ url, status: 410 });
    expect(page.html).toContain('your departure was withdrawn');
  }
  const post = await form(sign.url, { fullName: 'Dana Reyes', acknowledge: 'yes' });
  expect(post.status).toBe(410);
  const doc = await stack.db.document.findFirstOrThrow({
    where: { departureId: d.id, type: 'nda_acknowledgment' },
  });
  expect(doc.status).toBe('sent');
  expect(await stack.db.accessLink.count({ where: { departureId: d.id, usedAt: { not: null } } })).toBe(0);
});

test('NDA reminders: each number is sent once with a fresh link that replaces the earlier ones', async () => {
  const d = await departure();
  const sent = await acts.sendNdaForSignature({ departureId: d.id });
  const first = await stack.mail.waitFor(
    (m) => m.to.includes(d.personalEmail!) && m.purpose === 'nda_signature_request',
  );
  const r1 = await acts.remindNda({ departureId: d.id, reminder: 1 });
  const r1again = await acts.remindNda({ departureId: d.id, reminder: 1 });
  expect(r1).toMatchObject({ signed: false, reminded: true });
  expect(r1again).toMatchObject({ signed: false, reminded: false });
  const reminder = await stack.mail.waitFor(
    (m) => m.to.includes(d.personalEmail!) && m.purpose === 'nda_signature_reminder',
  );
  expect(reminder.subject).toContain('Reminder 1');
  await settle();
  expect(stack.mail.to(d.personalEmail!).filter((m) => m.purpose === 'nda_signature_reminder')).toHaveLength(
    1,
  );
  expect(await stack.db.auditEvent.count({ where: { departureId: d.id, action: 'nda_reminder_sent' } })).toBe(
    1,
  );

  // The first email's link no longer works; the reminder's does.
  const old = linkIn(first.text, 'sign');
  const fresh = linkIn(reminder.text, 'sign');
  expect(fresh.token).not.toBe(old.token);
  expect((await get(old.url)).status).toBe(410);
  expect((await get(fresh.url)).status).toBe(200);

  // Reminder 2 after the reminder's link expired: again a fresh one.
  await stack.db.accessLink.update({
    where: { tokenSha256: sha256(fresh.token) },
    data: { expiresAt: new Date(Date.now() - 1) },
  });
  expect(await acts.remindNda({ departureId: d.id, reminder: 2 })).toMatchObject({
    signed: false,
    reminded: true,
  });
  const second = await stack.mail.waitFor(
    (m) => m.to.includes(d.personalEmail!) && m.subject.includes('Reminder 2'),
  );
  const newest = linkIn(second.text, 'sign');
  expect((await form(newest.url, { fullName: 'Dana Reyes', acknowledge: 'yes' })).status).toBe(200);
  expect((await stack.db.document.findUniqueOrThrow({ where: { id: sent.documentId } })).status).toBe(
    'signed',
  );
  expect(await acts.remindNda({ departureId: d.id, reminder: 3 })).toMatchObject({
    signed: true,
    reminded: false,
  });
});

test('expireNda: an unsigned NDA becomes expired, its link stops working, and it is audited once', async () => {
  const d = await departure();
  const sent = await acts.sendNdaForSignature({ departureId: d.id });
  const mail = await stack.mail.waitFor(
    (m) => m.to.includes(d.personalEmail!) && m.purpose === 'nda_signature_request',
  );
  const r = await acts.expireNda({ departureId: d.id });
  expect(r).toEqual({ documentId: sent.documentId, status: 'expired' });
  expect(await acts.expireNda({ departureId: d.id })).toEqual(r);
  expect((await stack.db.document.findUniqueOrThrow({ where: { id: sent.documentId } })).status).toBe(
    'expired',
  );
  const { url } = linkIn(mail.text, 'sign');
  expect((await get(url)).status).toBe(410);
  expect((await form(url, { fullName: 'Dana Reyes', acknowledge: 'yes' })).status).toBe(410);
  expect((await stack.db.document.findUniqueOrThrow({ where: { id: sent.documentId } })).status).toBe(
    'expired',
  );
  expect(await stack.db.auditEvent.count({ where: { departureId: d.id, action: 'nda_expired' } })).toBe(1);
  expect(await acts.remindNda({ departureId: d.id, reminder: 1 })).toMatchObject({
    signed: false,
    reminded: false,
  });
});

test('no personal email: NDA and exit survey are refused (non-retryable, naming the field) and nothing is sent', async () => {
  const d = await departure({ personalEmail: null });
  await expect(acts.sendNdaForSignature({ departureId: d.id })).rejects.toThrow(TargetRejectedError);
  await expect(acts.sendNdaForSignature({ departureId: d.id })).rejects.toThrow(/personalEmail/);
  await expect(acts.sendExitSurvey({ departureId: d.id })).rejects.toThrow(/personalEmail/);
  const same = await departure({ personalEmail: 'x@example.com' });
  await stack.db.departure.update({ where: { id: same.id }, data: { personalEmail: same.workEmail } });
  await expect(acts.sendNdaForSignature({ departureId: same.id })).rejects.toThrow(
    /personalEmail is the work address/,
  );
  await settle();
  expect(stack.mail.to(d.workEmail)).toHaveLength(0);
  expect(stack.mail.to(same.workEmail)).toHaveLength(0);
  expect(await stack.db.accessLink.count({ where: { departureId: { in: [d.id, same.id] } } })).toBe(0);
});

test('benefits and payroll notifications are read back from the SMTP server, and their Documents hold the message ids', async () => {
  const d = await departure({ lastDay: '2026-11-25' });
  const r = await acts.sendBenefitsAndPayrollNotifications({ departureId: d.id });
  const again = await acts.sendBenefitsAndPayrollNotifications({ departureId: d.id });
  expect(again.payroll.messageId).toBe(r.payroll.messageId);

  const payroll = await stack.mail.waitFor(
    (m) => m.to.includes('payroll@example.com') && m.text.includes(d.employeeId),
  );
  expect(payroll.purpose).toBe('payroll_notification');
  expect(payroll.text).toContain('Departure date: 2026-11-25 (last working day)');
  expect(payroll.text).toContain('Termination type: involuntary');
  expect(payroll.text).toContain(`Termination confirmed at: ${d.confirmedAt.toISOString()}`);
  expect(payroll.text).toContain('Department: Finance');
  expect(payroll.text).toContain('Inputs HR must still supply');
  expect(payroll.text).toContain('severance');
  const benefits = await stack.mail.waitFor(
    (m) => m.to.includes('benefits-desk@example.com') && m.text.includes(d.employeeId),
  );
  expect(benefits.text).toContain('Benefits end date: 2026-11-30');
  expect(benefits.text).toContain('COBRA');
  expect(benefits.text).toContain('Coverage lost from: 2026-12-01');
  expect(benefits.text).toContain('Notify the plan administrator by: 2026-12-25');
  expect(benefits.text).toContain('election notice must go out');
  expect(benefits.text).toContain(d.personalEmail!);
  await settle();
  expect(stack.mail.to('payroll@example.com').filter((m) => m.text.includes(d.employeeId))).toHaveLength(1);
  expect(
    stack.mail.to('benefits-desk@example.com').filter((m) => m.text.includes(d.employeeId)),
  ).toHaveLength(1);

  for (const [type, caught, to] of [
    ['payroll_notification', payroll, 'payroll@example.com'],
    ['benefits_notification', benefits, 'benefits-desk@example.com'],
  ] as const) {
    const doc = await stack.db.document.findUniqueOrThrow({
      where: { departureId_type: { departureId: d.id, type } },
    });
    const meta = doc.meta as Record<string, string>;
    expect(doc.status).toBe('delivered');
    expect(meta).toMatchObject({ messageId: caught.messageId, to });
    expect(meta.smtpResponse).toMatch(/^250/);
    expect(new Date(meta.sentAt!).getTime()).toBe(doc.issuedAt!.getTime());
    expect(sha256(doc.content!)).toBe(doc.sha256);
    expect(Buffer.from(doc.content!).toString('utf8').trim()).toBe(caught.text.trim());
  }
  expect(r.payroll.messageId).toBe(payroll.messageId);
  expect(r.benefits.messageId).toBe(benefits.messageId);
});

test('exit survey: sent with its timestamp; answers stored once; bad input is a 400 page naming the field and stores nothing', async () => {
  const d = await departure();
  const before = Date.now();
  const r = await acts.sendExitSurvey({ departureId: d.id });
  expect(await acts.sendExitSurvey({ departureId: d.id })).toMatchObject({
    documentId: r.documentId,
    alreadySent: true,
  });
  const mail = await stack.mail.waitFor(
    (m) => m.to.includes(d.personalEmail!) && m.purpose === 'exit_survey',
  );
  await settle();
  expect(stack.mail.to(d.personalEmail!)).toHaveLength(1);
  const doc = await stack.db.document.findUniqueOrThrow({ where: { id: r.documentId } });
  expect(doc).toMatchObject({ type: 'exit_survey', status: 'sent' });
  expect(new Date((doc.meta as { sentAt: string }).sentAt).getTime()).toBeGreaterThanOrEqual(before - 1000);
  expect(doc.issuedAt!.toISOString()).toBe(r.sentAt);
  const link = await stack.db.accessLink.findFirstOrThrow({ where: { documentId: r.documentId } });
  expect(link.purpose).toBe('exit_survey');
  expect(Math.round((link.expiresAt.getTime() - Date.now()) / 86_400_000)).toBe(14);

  const { url } = linkIn(mail.text, 'survey');
  const page = await get(url);
  expect(page.status).toBe(200);
  expect(page.html).toContain('main reason you are leaving');

  const bad = await form(url, {
    reason: 'career_growth',
    rating: '7',
    recommend: 'yes',
    comments: 'x'.repeat(2001),
  });
  expect(bad.status).toBe(400);
  expect(bad.html).toContain('href="#rating"');
  expect(bad.html).not.toContain('href="#reason"');
  expect(bad.html).toContain('href="#comments"');
  expect(bad.html).toContain('at most 2000 characters');
  const missing = await form(url, { rating: '4' });
  expect(missing.status).toBe(400);
  expect(missing.html).toContain('href="#reason"');
  expect(missing.html).toContain('href="#recommend"');
  const untouched = await stack.db.document.findUniqueOrThrow({ where: { id: r.documentId } });
  expect(untouched.status).toBe('sent');
  expect((untouched.meta as Record<string, unknown>).answers).toBeUndefined();
  expect((await stack.db.accessLink.findUniqueOrThrow({ where: { id: link.id } })).usedAt).toBeNull();

  const comments = 'Great team. <script>alert(1)</script>';
  const ok = await form(url, { reason: 'career_growth', rating: '4', recommend: 'yes', comments });
  expect(ok.status).toBe(200);
  const answered = await stack.db.document.findUniqueOrThrow({ where: { id: r.documentId } });
  expect(answered.status).toBe('answered');
  expect(answered.completedAt).toBeInstanceOf(Date);
  expect((answered.meta as Record<string, unknown>).answers).toEqual({
    reason: 'career_growth',
    rating: 4,
    recommend: 'yes',
    comments,
  });
  const used = await stack.db.accessLink.findUniqueOrThrow({ where: { id: link.id } });
  expect(used.usedAt).toBeInstanceOf(Date);
  expect(used.usedFromIp).toBeNull();
  // HR reads the answers through the API (they were stored but nowhere to be read).
  const download = await fetch(`${api.url}/departures/${d.id}/documents/exit_survey`, {
    headers: { authorization: `Bearer ${TOKENS.hr}` },
  });
  expect(download.status).toBe(200);
  expect(download.headers.get('content-type')).toMatch(/^application\/json/);
  const bytes = Buffer.from(await download.arrayBuffer());
  expect(download.headers.get('x-content-sha256')).toBe(sha256(bytes));
  expect(JSON.parse(bytes.toString('utf8'))).toEqual({
    answers: { reason: 'career_growth', rating: 4, recommend: 'yes', comments },
    answeredAt: answered.completedAt!.toISOString(),
  });

  const reuse = await form(url, { reason: 'other', rating: '1', recommend: 'no' });
  expect(reuse.status).toBe(410);
  expect(reuse.html).toContain('already used');
  expect(
    (
      (await stack.db.document.findUniqueOrThrow({ where: { id: r.documentId } })).meta as {
        answers: { rating: number };
      }
    ).answers.rating,
  ).toBe(4);
  expect(await acts.sendExitSurvey({ departureId: d.id })).toMatchObject({
    status: 'answered',
    alreadySent: true,
  });
});
