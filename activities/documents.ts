/**
 * Compliance-document activities: the completion certificate, data archiving (one step per catalog data
 * source) and its confirmation, the NDA acknowledgment by e-signature, the benefits and payroll
 * notifications, and the exit survey.
 *
 * Every document is one `Document` row per departure and type. Whenever a row holds bytes, `sha256` is
 * the SHA-256 of exactly those bytes and `storageLocation` is `db:Document/<id>`. Every activity is
 * idempotent: emails are keyed (the mailer never sends a key twice), rows are upserted, and audit
 * events carry a `key` so a retry does not log the same fact twice.
 *
 * Rules a reader needs:
 * - The completion certificate is written once: a `generated` certificate is never replaced (a retry
 *   returns it as stored); a row in any other state is (re)generated.
 * - The data-archiving confirmation is a snapshot of the archive records, rendered deterministically
 *   from them: calling again with unchanged records keeps the same bytes; changed records (e.g. an owner
 *   confirmed a manual archive) replace it, and the audit trail keeps every version's hash.
 * - Nothing is ever deleted while the departure is under legal hold; a deletion requested earlier is
 *   withdrawn (the owner is told) when the hold is found on a later run.
 */
import { randomUUID } from 'node:crypto';
import type { Departure, Document } from '@prisma/client';
import { DateTime } from 'luxon';
import type { Catalog, DataSource } from '../config/catalog';
import type { ArchiveConfirmation } from '../contract';
import {
  auditChainHead,
  auditOnce as appendOnce,
  findDeparture,
  isUniqueViolation,
  Prisma,
  sql,
  type Db,
} from '../lib/db';
import type { Mailer } from '../lib/mailer';
import { archivingConfirmationPdf, completionCertificatePdf, sha256Hex } from '../lib/pdf';
import { handoverLines } from './google-handover';
import { createBuiltinESignatureProvider, sendWithFreshLink, type ESignatureProvider } from './esign';
import { DepartureNotFoundError, TargetRejectedError, UnknownSystemError } from './errors';

export type DocumentType =
  | 'completion_certificate'
  | 'data_archiving_confirmation'
  | 'nda_acknowledgment'
  | 'benefits_notification'
  | 'payroll_notification'
  | 'exit_survey';

export interface DocumentActivityDeps {
  db: Db;
  catalog: Catalog;
  mailer: Mailer;
  /** Base URL of the API: signing and survey links point there. */
  publicUrl: string;
  /** E-signature provider for the NDA; default: the built-in one (`documents.nda.linkValidHours`). */
  esign?: ESignatureProvider;
  /** The NDA text; default: `defaultNdaText`. */
  ndaTemplate?: (d: Departure) => { title: string; text: string };
}

/** What one archiving step did, for the workflow's step table. */
export interface ArchiveSummary {
  recordId: string;
  sourceId: string;
  sourceName: string;
  /**
   * `pending`: the built-in manual connector recorded the manifest and tasked the owner; the archive is
   * not confirmed yet (a yellow step). `archived`: confirmed.
   */
  status: string;
  retentionPolicy: string;
  location: string;
  /** Deletion of the source data: not asked by the catalog, asked of the owner, or blocked by legal hold. */
  deletion: 'not_configured' | 'requested' | 'skipped_legal_hold';
  ownerEmail: string;
  messageId: string;
}

export interface NdaSent {
  documentId: string;
  requestId: string | null;
  status: string;
  /** When the link in the email stops working (null when nothing new was sent). */
  linkExpiresAt: string | null;
  /** Signing deadline: unsigned after it, the workflow calls `expireNda`. */
  signBy: string;
  alreadySent: boolean;
}

export interface NotificationDelivered {
  documentId: string;
  to: string;
  messageId: string;
  smtpResponse: string;
  sentAt: string;
}

/** The default NDA / confidentiality acknowledgment text for a departure. */
export function defaultNdaText(d: Pick<Departure, 'employeeName' | 'employeeId' | 'department'>): {
  title: string;
  text: string;
} {
  return {
    title: 'Confidentiality and non-disclosure acknowledgment',
    text: [
      `I, ${d.employeeName} (employee id ${d.employeeId}, ${d.department}), acknowledge on leaving the company that:`,
      '1. The confidentiality and non-disclosure obligations I accepted during my employment continue after it ends.',
      '2. I have returned, or will return, all company property and information, and I have not kept copies of ' +
        'confidential information (including customer and employee data, source code, financial and business ' +
        'information) in any form or on any device or personal account.',
      '3. I will not use or disclose the confidential information of the company, its customers or its partners.',
      '4. Nothing in this acknowledgment prevents me from reporting a possible violation of law to a government ' +
        'agency or from taking part in an investigation by one.',
    ].join('\n\n'),
  };
}

const dbLocation = (id: string) => `db:Document/${id}`;

/** A JSON value as a plain object ({} when it is not one). */
function obj(v: unknown): Record<string, unknown> {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

const metaOf = (doc: Pick<Document, 'meta'> | null | undefined) => obj(doc?.meta);

const json = (v: unknown) => v as Prisma.InputJsonValue;

/** The departure date: the last working day, or the day the termination was confirmed (company time zone). */
export function departureDate(d: Pick<Departure, 'lastDay' | 'confirmedAt'>, timeZone: string): string {
  return d.lastDay ?? DateTime.fromJSDate(d.confirmedAt, { zone: timeZone }).toISODate()!;
}

/** Creates the document activities bound to their dependencies. */
export function createDocumentActivities(deps: DocumentActivityDeps) {
  const { db, catalog, mailer } = deps;
  const docsConfig = catalog.documents;
  const esign =
    deps.esign ??
    createBuiltinESignatureProvider({
      db,
      mailer,
      publicUrl: deps.publicUrl,
      linkValidHours: docsConfig.nda.linkValidHours,
    });
  const ndaTemplate = deps.ndaTemplate ?? defaultNdaText;
  const tz = catalog.organization.timeZone;
  const departureUrl = (id: string) => `${deps.publicUrl.replace(/\/+$/, '')}/departures/${id}`;

  async function loadDeparture(departureId: string): Promise<Departure> {
    const d = await findDeparture(db, departureId);
    if (!d) throw new DepartureNotFoundError(`no departure ${departureId}`);
    return d;
  }

  /** The personal address for messages to the leaver; never the work address (it is disabled). */
  function personalEmailOf(d: Departure): string {
    const e = d.personalEmail?.trim();
    if (!e)
      throw new TargetRejectedError(
        `departure ${d.id} has no personalEmail: the leaver cannot be reached (the work address is being disabled); add it in the HRIS`,
      );
    if (e.toLowerCase() === d.workEmail.trim().toLowerCase())
      throw new TargetRejectedError(
        `departure ${d.id}: personalEmail is the work address; a personal address is required`,
      );
    return e;
  }

  /** Appends an audit event unless one with the same action and `key` exists for the departure. */
  async function auditOnce(entry: {
    actor: string;
    action: string;
    departureId: string;
    key: string;
    details: Record<string, unknown>;
  }): Promise<void> {
    await appendOnce(
      db,
      {
        actor: entry.actor,
        action: entry.action,
        departureId: entry.departureId,
        details: { key: entry.key, ...entry.details },
      },
      { field: 'key', value: entry.key },
    );
  }

  /** The departure's document of a type, created `pending` when absent (with a known id). */
  async function ensureDocument(
    departureId: string,
    type: DocumentType,
    init: () => Omit<Prisma.DocumentUncheckedCreateInput, 'id' | 'departureId' | 'type'> = () => ({}),
  ): Promise<Document> {
    const where = { departureId_type: { departureId, type } };
    const found = await db.document.findUnique({ where });
    if (found) return found;
    const id = randomUUID();
    try {
      return await db.document.create({ data: { ...init(), id, departureId, type } });
    } catch (e) {
      if (!isUniqueViolation(e)) throw e;
      return db.document.findUniqueOrThrow({ where });
    }
  }

  /** Bytes, their hash and where they are, for a document row. */
  const stored = (id: string, content: Buffer, contentType: string) => ({
    content: new Uint8Array(content),
    contentType,
    sha256: sha256Hex(content),
    storageLocation: dbLocation(id),
  });

  /** When the message with this key went out (now, if it has not). */
  async function sentAtOf(key: string): Promise<Date> {
    // As ISO text: `pg` would read a `timestamp` column in this process's time zone.
    const { rows } = await sql<{ sentAt: string | null }>(
      db,
      `SELECT to_char("sentAt", 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "sentAt" FROM "Notification" WHERE key = $1`,
      [key],
    );
    const at = rows[0]?.sentAt;
    return at ? new Date(at) : new Date();
  }

  function sourceOf(sourceId: string): DataSource {
    const s = catalog.dataSources.find((x) => x.id === sourceId);
    if (!s) throw new UnknownSystemError(`data source "${sourceId}" is not in this worker's catalog`);
    return s;
  }

  return {
    /**
     * Generates the offboarding completion certificate (PDF) from the records of the departure: every
     * revocation step, asset recovery, archiving step and document, with timestamps, executing system
     * and final status. Stored on the Document `completion_certificate` with its SHA-256. Written once:
     * a retry (or a second call) returns the stored certificate unchanged.
     *
     * The certificate carries the head of the audit hash chain when it is issued (printed in the PDF;
     * `auditChainHead` and `auditChainSeq` in the document's meta): read here, not passed by the
     * workflow, so recorded histories are unchanged. `offboard verify-audit` checks that the chain
     * still has that hash at that position. An explicit `auditChainHead` (tests, tools) is printed and
     * stored instead, without a position.
     */
    async generateCompletionCertificate(input: {
      departureId: string;
      auditChainHead?: string;
    }): Promise<{ documentId: string; sha256: string; alreadyGenerated: boolean }> {
      const d = await loadDeparture(input.departureId);
      const doc = await ensureDocument(d.id, 'completion_certificate');
      if (doc.status === 'generated' && doc.sha256)
        return { documentId: doc.id, sha256: doc.sha256, alreadyGenerated: true };
      const [steps, recoveries, archives, documents, report, resolutions] = await Promise.all([
        db.stepRecord.findMany({
          where: { departureId: d.id },
          orderBy: [{ ordinal: 'asc' }, { action: 'asc' }],
        }),
        db.assetRecovery.findMany({
          where: { departureId: d.id },
          orderBy: [{ assetTag: 'asc' }],
          include: {
            custody: { where: { event: { startsWith: 'escalated' } }, orderBy: { at: 'desc' }, take: 1 },
          },
        }),
        db.archiveRecord.findMany({ where: { departureId: d.id }, orderBy: { sourceId: 'asc' } }),
        db.document.findMany({
          where: { departureId: d.id, type: { not: 'completion_certificate' } },
          orderBy: { type: 'asc' },
          select: {
            type: true,
            status: true,
            issuedAt: true,
            completedAt: true,
            sha256: true,
            storageLocation: true,
          },
        }),
        db.verificationReport.findUnique({ where: { departureId: d.id } }),
        db.resolution.findMany({ where: { departureId: d.id }, orderBy: { resolvedAt: 'asc' } }),
      ]);
      const head = input.auditChainHead ? null : await auditChainHead(db);
      const chainHead = input.auditChainHead ?? head?.hash ?? null;
      const generatedAt = new Date();
      const finalRows = (report?.finalAudit ?? []) as {
        systemId: string;
        systemName: string;
        active: string;
      }[];
      const signoff = report
        ? {
            reportCompiledAt: report.compiledAt,
            acknowledgments: [
              ['hr', report.hrAcknowledgedBy, report.hrAcknowledgedAt, report.hrNote] as const,
              ['it', report.itAcknowledgedBy, report.itAcknowledgedAt, report.itNote] as const,
            ]
              .filter(([, by, at]) => by && at)
              .map(([role, by, at, note]) => ({ role, by: by!, at: at!, note })),
            resolutions: resolutions.map((r) => ({
              itemId: r.itemId,
              how: r.how,
              note: r.note,
              by: r.resolvedBy,
              at: r.resolvedAt,
            })),
            finalAudit: { at: report.finalAuditAt, rows: finalRows },
          }
        : null;
      const pdf = await completionCertificatePdf({
        departure: d,
        generatedAt,
        steps,
        assets: recoveries.map((r) => ({ ...r, escalatedAt: r.custody[0]?.at ?? null })),
        archives: archives.map((a) => ({ ...a, deletion: deletionOf(a.details) })),
        documents,
        auditChainHead: chainHead,
        signoff,
      });
      const data = {
        ...stored(doc.id, pdf, 'application/pdf'),
        status: 'generated',
        issuedAt: generatedAt,
        completedAt: generatedAt,
        meta: json({
          steps: steps.length,
          assets: recoveries.length,
          archives: archives.length,
          documents: documents.length,
          auditChainHead: chainHead,
          auditChainSeq: head ? Number(head.seq) : null,
        }),
      };
      // Only a certificate not yet generated is written (a concurrent attempt may have won).
      await db.document.updateMany({ where: { id: doc.id, status: { not: 'generated' } }, data });
      const final = await db.document.findUniqueOrThrow({ where: { id: doc.id } });
      await auditOnce({
        actor: 'worker:documents',
        action: 'document_generated',
        departureId: d.id,
        key: `${final.id}:${final.sha256}`,
        details: {
          documentId: final.id,
          type: final.type,
          sha256: final.sha256,
          bytes: final.content?.length ?? 0,
        },
      });
      return { documentId: final.id, sha256: final.sha256!, alreadyGenerated: final.sha256 !== data.sha256 };
    },

    /**
     * Archives one catalog data source for the departure. The built-in `manual` connector records a
     * manifest (what, which retention policy, where) on the ArchiveRecord and sends the source's owner
     * the task; the record stays `pending` until the owner's archive is confirmed. Deletion of the source
     * data is asked for only when the catalog says so and never under legal hold.
     */
    async archiveDataSource(input: { departureId: string; sourceId: string }): Promise<ArchiveSummary> {
      const src = sourceOf(input.sourceId);
      const d = await loadDeparture(input.departureId);
      const location = `${src.archiveLocation.replace(/\/+$/, '')}/${d.id}`;
      const deletion: ArchiveSummary['deletion'] = !src.deleteAfterArchive
        ? 'not_configured'
        : d.legalHold
          ? 'skipped_legal_hold'
          : 'requested';
      const what = `all data of ${d.employeeName} (${d.employeeId}, ${d.workEmail}) in ${src.name}`;
      const manifest = {
        connector: src.connector.kind,
        what,
        employeeId: d.employeeId,
        account: d.workEmail,
        retentionPolicy: src.retentionPolicy,
        location,
        deleteAfterArchive: src.deleteAfterArchive,
        legalHold: d.legalHold,
      };
      let record = await db.archiveRecord.upsert({
        where: { departureId_sourceId: { departureId: d.id, sourceId: src.id } },
        create: {
          departureId: d.id,
          sourceId: src.id,
          sourceName: src.name,
          status: 'pending',
          retentionPolicy: src.retentionPolicy,
          location,
          details: json({ manifest, deletion, recordedAt: new Date().toISOString() }),
        },
        update: {},
      });
      const owner = src.owner;
      const deletionLine =
        deletion === 'requested'
          ? `When the archive is complete and verified, delete the source data (the catalog asks for it).`
          : deletion === 'skipped_legal_hold'
            ? 'DO NOT DELETE anything: this departure is under LEGAL HOLD. Archive only.'
            : 'Do not delete the source data (the catalog does not ask for it).';
      const sent = await mailer.send({
        key: `archive:${d.id}:${src.id}:task`,
        departureId: d.id,
        purpose: 'archive_task',
        to: owner.email,
        subject: `[Offboard] Archive ${d.employeeName}'s data in ${src.name} (retention ${src.retentionPolicy})`,
        text: [
          `Hello ${owner.name},`,
          '',
          `${d.employeeName} (${d.employeeId}) is leaving. Please archive ${what}.`,
          '',
          `Retention policy: ${src.retentionPolicy}`,
          `Archive location: ${location}`,
          deletionLine,
          '',
          `Archive record: ${record.id} (departure ${d.id})`,
          `When it is done, tell ${catalog.organization.it.name} (${catalog.organization.it.email}) how many items`,
          'were archived, so the archive can be confirmed.',
        ].join('\n'),
      });
      await auditOnce({
        actor: `worker:archive:${src.id}`,
        action: 'archive_requested',
        departureId: d.id,
        key: `${d.id}:${src.id}`,
        details: {
          sourceId: src.id,
          recordId: record.id,
          retentionPolicy: src.retentionPolicy,
          location,
          deletion,
          owner: owner.email,
          messageId: sent.messageId,
        },
      });
      // The hold may have come after deletion was asked for: withdraw it and tell the owner.
      const recorded = deletionOf(record.details);
      let effective = recorded as ArchiveSummary['deletion'];
      if (d.legalHold && src.deleteAfterArchive) {
        if (recorded === 'requested') {
          record = await db.archiveRecord.update({
            where: { id: record.id },
            data: {
              details: json({ ...obj(record.details), deletion: 'skipped_legal_hold', legalHold: true }),
            },
          });
          await mailer.send({
            key: `archive:${d.id}:${src.id}:legal-hold`,
            departureId: d.id,
            purpose: 'archive_legal_hold',
            to: owner.email,
            subject: `[Offboard] LEGAL HOLD: do not delete ${d.employeeName}'s data in ${src.name}`,
            text: [
              `Hello ${owner.name},`,
              '',
              `${d.employeeName} (${d.employeeId}) is now under legal hold. The deletion asked of you earlier is`,
              `WITHDRAWN: keep the data in ${src.name} and the archive at ${location}. Do not delete anything.`,
            ].join('\n'),
          });
        }
        effective = 'skipped_legal_hold';
        await auditOnce({
          actor: `worker:archive:${src.id}`,
          action: 'deletion_blocked_legal_hold',
          departureId: d.id,
          key: `${d.id}:${src.id}`,
          details: { sourceId: src.id, recordId: record.id, withdrawn: recorded === 'requested' },
        });
      }
      return {
        recordId: record.id,
        sourceId: src.id,
        sourceName: src.name,
        status: record.status,
        retentionPolicy: record.retentionPolicy,
        location: record.location ?? location,
        deletion: effective,
        ownerEmail: owner.email,
        messageId: sent.messageId,
      };
    },

    /**
     * Records the data-archiving confirmation (PDF): per catalog data source, what was archived, under
     * which retention policy, where, its status, and whether deletion was blocked by legal hold; then what
     * green revocation steps handed over to the manager (their evidence, e.g. a Google Workspace data
     * transfer and mailbox delegation). Its as-of time is the latest change of either.
     */
    async recordDataArchivingConfirmation(input: { departureId: string }): Promise<{
      documentId: string;
      sha256: string;
      sources: number;
      changed: boolean;
      /** Data sources whose archive is not confirmed yet (their owner was tasked). */
      pending: string[];
    }> {
      const d = await loadDeparture(input.departureId);
      const records = await db.archiveRecord.findMany({
        where: { departureId: d.id },
        orderBy: { sourceId: 'asc' },
      });
      const byId = new Map(records.map((r) => [r.sourceId, r]));
      const ids = [
        ...new Set([...catalog.dataSources.map((s) => s.id), ...records.map((r) => r.sourceId)]),
      ].sort();
      const sources = ids.map((id) => {
        const r = byId.get(id);
        const s = catalog.dataSources.find((x) => x.id === id);
        const manifest = obj(obj(r?.details).manifest);
        return {
          sourceId: id,
          sourceName: r?.sourceName ?? s?.name ?? id,
          status: r?.status ?? 'not_started',
          retentionPolicy: r?.retentionPolicy ?? s?.retentionPolicy ?? '-',
          location: r?.location ?? null,
          items: r?.items ?? null,
          archivedAt: r?.archivedAt ?? null,
          deletion: r ? deletionOf(r.details) : 'not_started',
          owner: s ? `${s.owner.name} <${s.owner.email}>` : '-',
          what: typeof manifest.what === 'string' ? manifest.what : '-',
        };
      });
      const greenSteps = await db.stepRecord.findMany({
        where: { departureId: d.id, status: 'green' },
        orderBy: [{ ordinal: 'asc' }, { action: 'asc' }],
        select: {
          systemId: true,
          systemName: true,
          action: true,
          confirmedAt: true,
          updatedAt: true,
          evidence: true,
        },
      });
      const handovers = greenSteps
        .map((s) => ({ ...s, lines: handoverLines(s.evidence) }))
        .filter((s) => s.lines.length > 0);
      const asOf = [...records, ...handovers].reduce<Date>(
        (m, r) => (r.updatedAt > m ? r.updatedAt : m),
        d.createdAt,
      );
      const pdf = await archivingConfirmationPdf({
        departure: d,
        asOf,
        sources,
        handovers: handovers.map((h) => ({
          systemId: h.systemId,
          systemName: h.systemName,
          confirmedAt: h.confirmedAt,
          lines: h.lines,
        })),
      });
      const doc = await ensureDocument(d.id, 'data_archiving_confirmation');
      const sha256 = sha256Hex(pdf);
      const changed = doc.sha256 !== sha256;
      if (changed) {
        const now = new Date();
        await db.document.update({
          where: { id: doc.id },
          data: {
            ...stored(doc.id, pdf, 'application/pdf'),
            status: 'generated',
            issuedAt: doc.issuedAt ?? now,
            completedAt: now,
            meta: json({
              asOf: asOf.toISOString(),
              legalHold: d.legalHold,
              sources: sources.map((s) => ({
                sourceId: s.sourceId,
                status: s.status,
                retentionPolicy: s.retentionPolicy,
                location: s.location,
                deletion: s.deletion,
              })),
              handovers: handovers.map((h) => ({
                systemId: h.systemId,
                action: h.action,
                confirmedAt: h.confirmedAt?.toISOString() ?? null,
                updatedAt: h.updatedAt.toISOString(),
                lines: h.lines,
              })),
              previousSha256: doc.sha256,
            }),
          },
        });
      }
      await auditOnce({
        actor: 'worker:documents',
        action: 'document_generated',
        departureId: d.id,
        key: `${doc.id}:${sha256}`,
        details: { documentId: doc.id, type: 'data_archiving_confirmation', sha256, bytes: pdf.length },
      });
      return {
        documentId: doc.id,
        sha256,
        sources: sources.length,
        changed,
        pending: sources.filter((x) => x.status !== 'archived').map((x) => x.sourceId),
      };
    },

    /**
     * Records a data source's archive as confirmed (the owner's word, relayed by an operator): the
     * ArchiveRecord becomes `archived` with the item count, who confirmed it and when, and an
     * `archive_confirmed` audit row. Idempotent: a second confirmation changes nothing (the first stands).
     * No record (the source was never tasked for this departure): `TargetRejectedError`.
     */
    async confirmArchive(input: {
      departureId: string;
      confirmation: ArchiveConfirmation;
    }): Promise<{ alreadyConfirmed: boolean }> {
      const c = input.confirmation;
      const record = await db.archiveRecord.findUnique({
        where: { departureId_sourceId: { departureId: input.departureId, sourceId: c.sourceId } },
      });
      if (!record)
        throw new TargetRejectedError(
          `departure ${input.departureId} has no archive of ${c.sourceId} to confirm`,
        );
      if (record.status === 'archived') return { alreadyConfirmed: true };
      const updated = await db.archiveRecord.updateMany({
        where: { id: record.id, status: { not: 'archived' } },
        data: {
          status: 'archived',
          archivedAt: new Date(c.at),
          items: c.items,
          details: json({
            ...obj(record.details),
            confirmation: { by: c.confirmedBy, note: c.note, at: c.at, items: c.items },
          }),
        },
      });
      await auditOnce({
        actor: `operator:${c.confirmedBy}`,
        action: 'archive_confirmed',
        departureId: input.departureId,
        key: `${input.departureId}:${c.sourceId}`,
        details: { sourceId: c.sourceId, recordId: record.id, items: c.items, note: c.note, at: c.at },
      });
      return { alreadyConfirmed: updated.count === 0 };
    },

    /**
     * Sends the NDA / confidentiality acknowledgment for e-signature to the leaver's personal address
     * (never the work address; none on file is a non-retryable `TargetRejectedError`). The Document
     * `nda_acknowledgment` holds the NDA text and its SHA-256 and becomes `sent`. Idempotent: a retry
     * sends no second link; a signed or expired NDA is left as it is.
     */
    async sendNdaForSignature(input: { departureId: string }): Promise<NdaSent> {
      const d = await loadDeparture(input.departureId);
      const to = personalEmailOf(d);
      const doc = await ensureDocument(d.id, 'nda_acknowledgment', () => {
        const { title, text } = ndaTemplate(d);
        const bytes = Buffer.from(text, 'utf8');
        const signBy = new Date(Date.now() + docsConfig.nda.deadlineDays * 86_400_000);
        return {
          status: 'pending',
          content: new Uint8Array(bytes),
          contentType: 'text/plain; charset=utf-8',
          sha256: sha256Hex(bytes),
          meta: json({ title, ndaText: text, ndaSha256: sha256Hex(bytes), signBy: signBy.toISOString() }),
        };
      });
      // The id is known only now: the text is stored with the row.
      if (!doc.storageLocation)
        await db.document.update({ where: { id: doc.id }, data: { storageLocation: dbLocation(doc.id) } });
      const meta = metaOf(doc);
      const signBy = String(meta.signBy);
      if (doc.status !== 'pending' && doc.status !== 'sent')
        return {
          documentId: doc.id,
          requestId: (meta.requestId as string | undefined) ?? null,
          status: doc.status,
          linkExpiresAt: null,
          signBy,
          alreadySent: true,
        };
      const r = await esign.requestSignature({
        documentId: doc.id,
        departureId: d.id,
        signer: { name: d.employeeName, email: to },
        document: { title: String(meta.title), text: String(meta.ndaText), sha256: String(meta.ndaSha256) },
        signBy: new Date(signBy),
      });
      const sentAt = await sentAtOf(`esign:${doc.id}:request`);
      await db.document.updateMany({
        where: { id: doc.id, status: 'pending' },
        data: {
          status: 'sent',
          issuedAt: sentAt,
          meta: json({
            ...meta,
            provider: esign.name,
            requestId: r.requestId,
            sentTo: to,
            sentAt: sentAt.toISOString(),
            messageId: r.messageId,
            smtpResponse: r.deliveryResponse,
            linkExpiresAt: r.linkExpiresAt?.toISOString() ?? null,
          }),
        },
      });
      await auditOnce({
        actor: `worker:esign:${esign.name}`,
        action: 'nda_sent',
        departureId: d.id,
        key: doc.id,
        details: {
          documentId: doc.id,
          requestId: r.requestId,
          to,
          messageId: r.messageId,
          ndaSha256: meta.ndaSha256,
        },
      });
      const now = await db.document.findUniqueOrThrow({ where: { id: doc.id } });
      return {
        documentId: doc.id,
        requestId: r.requestId,
        status: now.status,
        linkExpiresAt: r.linkExpiresAt?.toISOString() ?? null,
        signBy,
        alreadySent: r.alreadySent,
      };
    },

    /**
     * Reminds the leaver to sign, unless signed: each reminder number is sent at most once and carries a
     * fresh link (earlier links stop working, expired or not). Returns whether the NDA is signed.
     */
    async remindNda(input: {
      departureId: string;
      reminder: number;
    }): Promise<{ signed: boolean; reminded: boolean; linkExpiresAt: string | null }> {
      if (!Number.isInteger(input.reminder) || input.reminder < 1)
        throw new TargetRejectedError(`reminder must be a positive integer, got ${input.reminder}`);
      const d = await loadDeparture(input.departureId);
      const doc = await db.document.findUnique({
        where: { departureId_type: { departureId: d.id, type: 'nda_acknowledgment' } },
      });
      if (!doc)
        throw new TargetRejectedError(`departure ${d.id}: no NDA was sent, so there is nothing to remind`);
      if (doc.status === 'signed') return { signed: true, reminded: false, linkExpiresAt: null };
      if (doc.status !== 'sent') return { signed: false, reminded: false, linkExpiresAt: null };
      const meta = metaOf(doc);
      const r = await esign.remind({
        requestId: String(meta.requestId ?? `builtin:${doc.id}`),
        documentId: doc.id,
        departureId: d.id,
        signer: { name: d.employeeName, email: personalEmailOf(d) },
        document: { title: String(meta.title), text: String(meta.ndaText), sha256: String(meta.ndaSha256) },
        signBy: new Date(String(meta.signBy)),
        reminder: input.reminder,
      });
      if (r.messageId)
        await auditOnce({
          actor: `worker:esign:${esign.name}`,
          action: 'nda_reminder_sent',
          departureId: d.id,
          key: `${doc.id}:${input.reminder}`,
          details: { documentId: doc.id, reminder: input.reminder, messageId: r.messageId },
        });
      return {
        signed: r.signed,
        reminded: r.reminded,
        linkExpiresAt: r.linkExpiresAt?.toISOString() ?? null,
      };
    },

    /**
     * The signing deadline passed: an unsigned NDA becomes `expired` (its links stop working) and the
     * workflow turns the step red. A NDA signed in the meantime stays signed (status returned).
     */
    async expireNda(input: { departureId: string }): Promise<{ documentId: string; status: string }> {
      const d = await loadDeparture(input.departureId);
      const doc = await ensureDocument(d.id, 'nda_acknowledgment');
      const now = new Date();
      const r = await db.document.updateMany({
        where: { id: doc.id, status: { in: ['pending', 'sent'] } },
        data: {
          status: 'expired',
          completedAt: now,
          meta: json({ ...metaOf(doc), expiredAt: now.toISOString() }),
        },
      });
      const final = await db.document.findUniqueOrThrow({ where: { id: doc.id } });
      if (final.status === 'expired') {
        await esign.cancel({
          requestId: String(metaOf(final).requestId ?? `builtin:${doc.id}`),
          documentId: doc.id,
          reason: 'signing deadline passed',
        });
        await auditOnce({
          actor: 'workflow',
          action: 'nda_expired',
          departureId: d.id,
          key: doc.id,
          details: { documentId: doc.id, expiredNow: r.count > 0, deadlineDays: docsConfig.nda.deadlineDays },
        });
      }
      return { documentId: doc.id, status: final.status };
    },

    /**
     * Tells Finance (payroll: departure date and the final pay inputs Offboard has, and those HR must
     * still supply) and Benefits (benefits end date, the benefits-continuation/COBRA trigger and the
     * election notice to send). Each email is a Document (`payroll_notification`, `benefits_notification`)
     * `delivered`, holding the text sent and the SMTP server's acceptance as delivery evidence.
     */
    async sendBenefitsAndPayrollNotifications(input: {
      departureId: string;
    }): Promise<{ payroll: NotificationDelivered; benefits: NotificationDelivered }> {
      const d = await loadDeparture(input.departureId);
      const { finance, benefits } = catalog.organization;
      const date = departureDate(d, tz);
      const day = DateTime.fromISO(date, { zone: 'UTC' });
      const benefitsEnd = day.endOf('month').toISODate()!;
      const coverageLost = day.endOf('month').plus({ days: 1 }).toISODate()!;
      const noticeDue = day.plus({ days: 30 }).toISODate()!;
      const who = `${d.employeeName} (${d.employeeId}, ${d.department})`;
      const dateBasis = d.lastDay
        ? 'last working day'
        : 'no last day was given: the day the termination was confirmed';

      const payrollText = [
        `Hello ${finance.name},`,
        '',
        `${who} is leaving. Please prepare the final pay.`,
        '',
        `Departure date: ${date} (${dateBasis})`,
        '',
        'Final pay inputs (from the HR system):',
        `  Termination type: ${d.terminationType}`,
        `  Last working day: ${d.lastDay ?? 'not given'}`,
        `  Termination confirmed at: ${d.confirmedAt.toISOString()}`,
        `  Department: ${d.department}`,
        `  Employee id: ${d.employeeId}`,
        '',
        'Inputs HR must still supply (Offboard does not hold them):',
        '  - hours worked and overtime in the final pay period',
        '  - accrued, unused paid time off to be paid out',
        '  - commissions, bonuses and expense reimbursements owed',
        ...(d.terminationType === 'involuntary' ? ['  - severance terms, if any'] : []),
        '  - amounts to recover (advances; equipment not returned, where the law allows)',
        '',
        'The final pay deadline depends on where the employee works; some jurisdictions require payment on',
        'the last day for an involuntary termination.',
        '',
        `Departure record: ${departureUrl(d.id)}`,
      ].join('\n');

      const benefitsText = [
        `Hello ${benefits.name},`,
        '',
        `${who} is leaving.`,
        '',
        `Departure date: ${date} (${dateBasis})`,
        `Benefits end date: ${benefitsEnd} (end of the month of the departure date; correct it if the plan ends`,
        'coverage on another day)',
        '',
        'Benefits continuation (COBRA) trigger:',
        `  Qualifying event: termination of employment (${d.terminationType}) on ${date}`,
        `  Coverage lost from: ${coverageLost}`,
        `  Notify the plan administrator by: ${noticeDue} (30 days after the qualifying event)`,
        '',
        'The COBRA election notice must go out: the plan administrator sends it to the employee within 14 days',
        `of being notified, to the personal address: ${d.personalEmail ?? 'none on file, ask HR'}.`,
        '',
        `Departure record: ${departureUrl(d.id)}`,
      ].join('\n');

      const deliver = async (
        type: 'payroll_notification' | 'benefits_notification',
        to: string,
        subject: string,
        text: string,
      ): Promise<NotificationDelivered> => {
        const key = `${type}:${d.id}`;
        const doc = await ensureDocument(d.id, type);
        const sent = await mailer.send({ key, departureId: d.id, purpose: type, to, subject, text });
        const sentAt = await sentAtOf(key);
        const evidence = {
          messageId: sent.messageId,
          smtpResponse: sent.response,
          to,
          sentAt: sentAt.toISOString(),
        };
        await db.document.update({
          where: { id: doc.id },
          data: {
            ...stored(doc.id, Buffer.from(text, 'utf8'), 'text/plain; charset=utf-8'),
            status: 'delivered',
            issuedAt: sentAt,
            completedAt: sentAt,
            meta: json({ ...evidence, subject }),
          },
        });
        await auditOnce({
          actor: 'worker:mailer',
          action: 'notification_delivered',
          departureId: d.id,
          key,
          details: { documentId: doc.id, type, ...evidence },
        });
        return { documentId: doc.id, ...evidence };
      };

      const payroll = await deliver(
        'payroll_notification',
        finance.email,
        `[Offboard] Final pay: ${d.employeeName} (${d.employeeId}), departure ${date}`,
        payrollText,
      );
      const benefitsSent = await deliver(
        'benefits_notification',
        benefits.email,
        `[Offboard] Benefits end ${benefitsEnd}, COBRA election notice due: ${d.employeeName} (${d.employeeId})`,
        benefitsText,
      );
      return { payroll, benefits: benefitsSent };
    },

    /**
     * Sends the exit survey to the leaver's personal address: a single-use link to the built-in survey
     * page, valid `documents.exitSurvey.linkValidDays`. Document `exit_survey` becomes `sent` with the
     * time it went out; the page stores the answers. Idempotent.
     */
    async sendExitSurvey(input: { departureId: string }): Promise<{
      documentId: string;
      status: string;
      sentAt: string;
      linkExpiresAt: string | null;
      alreadySent: boolean;
    }> {
      const d = await loadDeparture(input.departureId);
      const to = personalEmailOf(d);
      const doc = await ensureDocument(d.id, 'exit_survey');
      if (doc.status !== 'pending' && doc.status !== 'sent') {
        const meta = metaOf(doc);
        return {
          documentId: doc.id,
          status: doc.status,
          sentAt: String(meta.sentAt ?? doc.issuedAt?.toISOString() ?? ''),
          linkExpiresAt: null,
          alreadySent: true,
        };
      }
      const key = `survey:${doc.id}:invite`;
      const expiresAt = new Date(Date.now() + docsConfig.exitSurvey.linkValidDays * 86_400_000);
      const r = await sendWithFreshLink(
        { db, mailer, publicUrl: deps.publicUrl },
        {
          key,
          departureId: d.id,
          documentId: doc.id,
          purpose: 'exit_survey',
          expiresAt,
          generation: 0,
          mail: (url) => ({
            purpose: 'exit_survey',
            to,
            subject: 'A few questions about your time with us (exit survey)',
            text: [
              `Hello ${d.employeeName},`,
              '',
              'Before you go, would you tell us about your experience? Four short questions, about two minutes.',
              "Your answers go to HR and are used, with everyone else's, to make the company a better place to work.",
              '',
              `  ${url}`,
              '',
              `The link works once and expires at ${expiresAt.toISOString()}. Answering is optional.`,
            ].join('\n'),
          }),
        },
      );
      const sentAt = await sentAtOf(key);
      await db.document.updateMany({
        where: { id: doc.id, status: 'pending' },
        data: {
          status: 'sent',
          issuedAt: sentAt,
          meta: json({
            sentAt: sentAt.toISOString(),
            to,
            messageId: r.sent.messageId,
            smtpResponse: r.sent.response,
            linkExpiresAt: r.linkExpiresAt?.toISOString() ?? null,
          }),
        },
      });
      await auditOnce({
        actor: 'worker:documents',
        action: 'exit_survey_sent',
        departureId: d.id,
        key: doc.id,
        details: { documentId: doc.id, to, messageId: r.sent.messageId, sentAt: sentAt.toISOString() },
      });
      const final = await db.document.findUniqueOrThrow({ where: { id: doc.id } });
      return {
        documentId: doc.id,
        status: final.status,
        sentAt: String(metaOf(final).sentAt ?? sentAt.toISOString()),
        linkExpiresAt: r.linkExpiresAt?.toISOString() ?? null,
        alreadySent: r.sent.alreadySent,
      };
    },
  };
}

/** The deletion decision recorded on an archive record's details. */
function deletionOf(details: Prisma.JsonValue | null): ArchiveSummary['deletion'] {
  const v = obj(details).deletion;
  return v === 'requested' || v === 'skipped_legal_hold' ? v : 'not_configured';
}

/** The document activities' interface (merged into the workflow's activities by whoever wires them). */
export type DocumentActivities = ReturnType<typeof createDocumentActivities>;
