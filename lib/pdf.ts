/**
 * Compliance PDFs (pdfkit): the offboarding completion certificate, the data-archiving confirmation and
 * the signed NDA acknowledgment.
 *
 * Rendering is deterministic: the same input gives the same bytes (the PDF's dates come from the input,
 * never from the clock), so a document's SHA-256 can be recomputed from the same facts. Callers store
 * exactly the bytes they hash (`sha256Hex`). Text is drawn with the standard Helvetica fonts, so it is
 * extractable by any PDF text extractor; those fonts cover Windows-1252 only, so other characters are
 * transliterated (accents dropped) or shown as `?` (`pdfSafe`).
 */
import { createHash } from 'node:crypto';
import PDFDocument from 'pdfkit';
import { describeMatch, type MatchEvidence } from '../contract';

/** SHA-256 of bytes, lower-case hex. */
export function sha256Hex(bytes: Buffer | Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

// Characters Windows-1252 has beyond Latin-1 (the standard fonts' encoding in pdfkit).
const CP1252_EXTRA = new Set('€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ');
// Latin letters that Unicode does not decompose into a base letter and an accent.
const TRANSLITERATE: Record<string, string> = {
  Ł: 'L',
  ł: 'l',
  Đ: 'D',
  đ: 'd',
  Ħ: 'H',
  ħ: 'h',
  ı: 'i',
  Ŧ: 'T',
  ŧ: 't',
};

/** Text the standard PDF fonts can show: Latin-1 and Windows-1252 kept, accents stripped, the rest `?`. */
export function pdfSafe(s: string): string {
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if ((cp >= 0x20 && cp < 0x7f) || (cp >= 0xa0 && cp <= 0xff) || CP1252_EXTRA.has(ch) || ch === '\n') {
      out += ch;
      continue;
    }
    if (TRANSLITERATE[ch]) {
      out += TRANSLITERATE[ch];
      continue;
    }
    const base = ch.normalize('NFKD').replace(/[\u0300-\u036f]/g, '');
    out += base && [...base].every((c) => c.charCodeAt(0) >= 0x20 && c.charCodeAt(0) < 0x7f) ? base : '?';
  }
  return out;
}

const iso = (d: Date | null | undefined): string => (d ? d.toISOString() : '-');

/** Page layout shared by every Offboard document. */
const MARGIN = 48;
const FOOTER_FONT = 7;

interface PageFooter {
  /** Left part of the footer line of every page, e.g. the document title and departure id. */
  label: string;
  /** Extra footer line on every page (e.g. the audit chain head), if any. */
  extra?: string | null;
}

/**
 * Renders a document: `draw` writes the body into a buffered pdfkit document; then every page gets a
 * footer (`label · page i of n`, plus `extra`). Resolves with the complete PDF bytes.
 */
async function render(
  meta: { title: string; subject: string; createdAt: Date },
  footer: PageFooter,
  draw: (doc: PDFKit.PDFDocument) => void,
): Promise<Buffer> {
  const doc = new PDFDocument({
    size: 'A4',
    margins: { top: MARGIN, bottom: MARGIN + 20, left: MARGIN, right: MARGIN },
    bufferPages: true,
    compress: true,
    info: {
      Title: pdfSafe(meta.title),
      Subject: pdfSafe(meta.subject),
      Author: 'Offboard',
      Creator: 'Offboard',
      Producer: 'Offboard (pdfkit)',
      CreationDate: meta.createdAt,
      ModDate: meta.createdAt,
    },
  });
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('data', (c: Buffer) => chunks.push(c));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });
  draw(doc);
  const range = doc.bufferedPageRange();
  for (let i = range.start; i < range.start + range.count; i++) {
    doc.switchToPage(i);
    // Writing inside the bottom margin must not open a new page.
    const bottom = doc.page.margins.bottom;
    doc.page.margins.bottom = 0;
    const width = doc.page.width - 2 * MARGIN;
    const y = doc.page.height - MARGIN - 6;
    doc.font('Helvetica').fontSize(FOOTER_FONT).fillColor('#555555');
    if (footer.extra) {
      doc.text(pdfSafe(footer.extra), MARGIN, y - 10, { width, lineBreak: false });
    }
    doc.text(pdfSafe(`${footer.label} - page ${i + 1} of ${range.count}`), MARGIN, y, {
      width,
      lineBreak: false,
    });
    doc.page.margins.bottom = bottom;
  }
  doc.end();
  return done;
}

function heading(doc: PDFKit.PDFDocument, text: string): void {
  doc.moveDown(0.6).font('Helvetica-Bold').fontSize(12).fillColor('#000000').text(pdfSafe(text));
  doc.moveDown(0.2);
}

/** `label: value` lines in a compact block. */
function fields(doc: PDFKit.PDFDocument, rows: [string, string][]): void {
  for (const [k, v] of rows) {
    doc
      .font('Helvetica-Bold')
      .fontSize(9)
      .fillColor('#000000')
      .text(pdfSafe(`${k}: `), { continued: true });
    doc.font('Helvetica').text(pdfSafe(v));
  }
}

/** One numbered action: a bold title line and indented detail lines, kept readable when extracted. */
function entry(doc: PDFKit.PDFDocument, title: string, lines: string[]): void {
  doc.moveDown(0.3);
  // Keep an entry on one page (roughly: one line each; a wrapped line may still spill over).
  if (doc.y + (lines.length + 1) * 11 > doc.page.height - doc.page.margins.bottom) doc.addPage();
  doc.font('Helvetica-Bold').fontSize(9).fillColor('#000000').text(pdfSafe(title));
  doc.font('Helvetica').fontSize(8.5).fillColor('#222222');
  for (const l of lines) doc.text(pdfSafe(l), { indent: 12 });
}

function none(doc: PDFKit.PDFDocument, what: string): void {
  doc
    .font('Helvetica-Oblique')
    .fontSize(9)
    .fillColor('#444444')
    .text(pdfSafe(`(no ${what})`));
}

// ---------------------------------------------------------------- completion certificate

export interface CertificateStep {
  systemId: string;
  systemName: string;
  action: string;
  kind: string;
  tier: string;
  integration: string;
  executingSystem: string;
  status: string;
  attempts: number;
  startedAt: Date | null;
  actedAt: Date | null;
  confirmedAt: Date | null;
  finishedAt: Date | null;
  lastError: string | null;
  /** The step's evidence (`match`: how the leaver's account was found). */
  evidence?: unknown;
  /** When a notice period held the step until the end of the last day. */
  scheduledFor?: Date | null;
}

/**
 * Which phase of a notice period a step belongs to: the scope at once (the account kept working), the
 * full revocation after the last day, or (no notice period, or revoked at once) none said.
 */
export function phaseOf(s: Pick<CertificateStep, 'kind' | 'scheduledFor'>): string | null {
  if (s.kind === 'scope') return 'notice period: scoped at once, the account kept working';
  if (s.scheduledFor) return `after the last day: held until ${iso(s.scheduledFor)}`;
  return null;
}

/** The line naming the account a step acted on (and how it was found), when matching ran. */
function accountLine(evidence: unknown): string[] {
  const m = (evidence as { match?: MatchEvidence } | null | undefined)?.match;
  return m && typeof m.outcome === 'string' ? [`Account: ${describeMatch(m).slice(0, 400)}`] : [];
}

export interface CertificateAsset {
  assetTag: string;
  assetName: string;
  assetSource: string;
  route: string;
  status: string;
  dueAt: Date | null;
  receivedAt: Date | null;
  receivedBy: string | null;
  condition: string | null;
  inspectedBy: string | null;
  /** When it was escalated (the latest escalation custody entry), if it was. */
  escalatedAt: Date | null;
  recoveryPlan: string | null;
}

export interface CertificateDocument {
  type: string;
  status: string;
  issuedAt: Date | null;
  completedAt: Date | null;
  sha256: string | null;
  storageLocation: string | null;
}

export interface CertificateArchive {
  sourceId: string;
  sourceName: string;
  status: string;
  retentionPolicy: string;
  location: string | null;
  archivedAt: Date | null;
  deletion: string;
}

export interface CompletionCertificateInput {
  departure: {
    id: string;
    employeeId: string;
    employeeName: string;
    department: string;
    terminationType: string;
    confirmedAt: Date;
    lastDay: string | null;
    status: string;
    completedAt: Date | null;
    legalHold: boolean;
    workflowId: string;
  };
  generatedAt: Date;
  steps: CertificateStep[];
  assets: CertificateAsset[];
  archives: CertificateArchive[];
  documents: CertificateDocument[];
  /** Head of the audit hash chain at generation time, when the audit trail is chained. */
  auditChainHead?: string | null;
  /** The verification checkpoint: acknowledgments, resolutions and the final live audit. */
  signoff?: {
    reportCompiledAt: Date;
    acknowledgments: { role: string; by: string; at: Date; note: string | null }[];
    resolutions: { itemId: string; how: string; note: string; by: string; at: Date }[];
    finalAudit: { at: Date | null; rows: { systemId: string; systemName: string; active: string }[] };
  } | null;
}

/**
 * The offboarding completion certificate: a header identifying the departure, then one entry per action
 * (every revocation step, asset recovery, archiving step and document) with its executing system,
 * timestamps and final status, then a closing block with the generation time and audit chain head.
 */
export function completionCertificatePdf(input: CompletionCertificateInput): Promise<Buffer> {
  const d = input.departure;
  const label = `Offboard completion certificate - departure ${d.id}`;
  const chain = input.auditChainHead ? `Audit chain head: ${input.auditChainHead}` : null;
  return render(
    {
      title: 'Offboarding completion certificate',
      subject: `${d.employeeId} ${d.id}`,
      createdAt: input.generatedAt,
    },
    { label, extra: chain },
    (doc) => {
      doc.font('Helvetica-Bold').fontSize(16).text('Offboarding completion certificate');
      doc.moveDown(0.4);
      fields(doc, [
        ['Departure', d.id],
        ['Workflow', d.workflowId],
        ['Employee', `${d.employeeName} (${d.employeeId})`],
        ['Department', d.department],
        ['Termination', `${d.terminationType}, confirmed ${iso(d.confirmedAt)}`],
        ['Last day', d.lastDay ?? '-'],
        // Issued as the offboarding completes, a moment before the departure row says so.
        [
          'Departure status',
          d.completedAt
            ? `${d.status}, completed ${iso(d.completedAt)}`
            : `completed with this certificate (recorded status until then: ${d.status})`,
        ],
        ['Legal hold', d.legalHold ? 'yes (no data deletion)' : 'no'],
        ['Generated at', iso(input.generatedAt)],
      ]);

      const greens = input.steps.filter((s) => s.status === 'green').length;
      heading(doc, `Access revocation (${input.steps.length} steps, ${greens} confirmed)`);
      if (input.steps.length === 0) none(doc, 'revocation steps');
      input.steps.forEach((s, i) => {
        entry(doc, `${i + 1}. ${s.systemName} (${s.systemId}) - ${s.action} - final status: ${s.status}`, [
          `Executing system: ${s.executingSystem}`,
          `Tier: ${s.tier}; kind: ${s.kind}; integration: ${s.integration}; attempts: ${s.attempts}`,
          ...(phaseOf(s) ? [`Phase: ${phaseOf(s)}`] : []),
          `Started: ${iso(s.startedAt)}; acted: ${iso(s.actedAt)}`,
          `Confirmed: ${iso(s.confirmedAt)}; finished: ${iso(s.finishedAt)}`,
          ...accountLine(s.evidence),
          ...(s.lastError && s.status !== 'green' ? [`Last error: ${s.lastError.slice(0, 300)}`] : []),
        ]);
      });

      heading(doc, `Asset recovery (${input.assets.length})`);
      if (input.assets.length === 0) none(doc, 'assigned assets');
      input.assets.forEach((a, i) => {
        entry(doc, `${i + 1}. ${a.assetTag} ${a.assetName} - ${a.route} - final status: ${a.status}`, [
          `Executing system: asset register (${a.assetSource})`,
          `Due: ${iso(a.dueAt)}; received: ${iso(a.receivedAt)}${a.receivedBy ? ` by ${a.receivedBy}` : ''}`,
          ...(a.receivedAt
            ? [`Condition: ${a.condition ?? '-'}; inspected by: ${a.inspectedBy ?? '-'}`]
            : []),
          `Escalated: ${iso(a.escalatedAt)}`,
          ...(a.recoveryPlan ? [`Recovery plan: ${a.recoveryPlan.slice(0, 300)}`] : []),
        ]);
      });

      heading(doc, `Data archiving (${input.archives.length})`);
      if (input.archives.length === 0) none(doc, 'data sources archived');
      input.archives.forEach((a, i) => {
        entry(doc, `${i + 1}. ${a.sourceName} (${a.sourceId}) - archive - final status: ${a.status}`, [
          `Retention policy: ${a.retentionPolicy}; location: ${a.location ?? '-'}`,
          `Archived: ${iso(a.archivedAt)}; deletion: ${a.deletion}`,
        ]);
      });

      heading(doc, `Compliance documents (${input.documents.length})`);
      if (input.documents.length === 0) none(doc, 'documents');
      input.documents.forEach((x, i) => {
        entry(doc, `${i + 1}. ${x.type} - final status: ${x.status}`, [
          `Executing system: Offboard (${x.storageLocation ?? 'not stored'})`,
          `Issued: ${iso(x.issuedAt)}; completed: ${iso(x.completedAt)}`,
          `SHA-256: ${x.sha256 ?? '-'}`,
        ]);
      });

      const so = input.signoff;
      if (so) {
        heading(doc, 'Verification and sign-off');
        fields(doc, [
          ['Report compiled', iso(so.reportCompiledAt)],
          ...so.acknowledgments.map((a): [string, string] => [
            `Acknowledged (${a.role.toUpperCase()})`,
            `${a.by} at ${iso(a.at)}${a.note ? ` - ${a.note}` : ''}`,
          ]),
          [
            'Final live access audit',
            `${iso(so.finalAudit.at)}: ${so.finalAudit.rows.map((r) => `${r.systemName} ${r.active === 'no' ? 'no active account' : r.active}`).join('; ') || 'no system to ask'}`,
          ],
        ]);
        so.resolutions.forEach((r, i) => {
          entry(doc, `Resolution ${i + 1}. ${r.itemId}: ${r.how.replace(/_/g, ' ')}`, [
            `By ${r.by} at ${iso(r.at)}`,
            `Note: ${r.note}`,
          ]);
        });
      }

      heading(doc, 'Certification');
      doc
        .font('Helvetica')
        .fontSize(9)
        .fillColor('#000000')
        .text(
          pdfSafe(
            `This certificate was generated by Offboard from its records of departure ${d.id} at ` +
              `${iso(input.generatedAt)}. Each entry above is a system-generated record of one action; its ` +
              'timestamps are those the executing system reported or Offboard observed. The SHA-256 of this ' +
              'file is stored with the departure record.',
          ),
        );
      doc.moveDown(0.3);
      fields(doc, [['Audit chain head', input.auditChainHead ?? '(not recorded)']]);
    },
  );
}

// ---------------------------------------------------------------- data archiving confirmation

export interface ArchivingConfirmationInput {
  departure: { id: string; employeeId: string; employeeName: string; legalHold: boolean };
  /**
   * The instant the content reflects (the latest change of an archive record or a handover step): keeps
   * the bytes stable.
   */
  asOf: Date;
  /**
   * What revocation steps handed to the manager before closing the account (a Google Workspace data
   * transfer, a mailbox delegation), one entry per confirmed step with a handover; none: no section.
   */
  handovers?: { systemId: string; systemName: string; confirmedAt: Date | null; lines: string[] }[];
  sources: {
    sourceId: string;
    sourceName: string;
    status: string;
    retentionPolicy: string;
    location: string | null;
    items: number | null;
    archivedAt: Date | null;
    deletion: string;
    owner: string;
    what: string;
  }[];
}

/**
 * The data-archiving confirmation: what was archived, under which retention policy, where; and what
 * was handed over to the manager before an account was closed.
 */
export function archivingConfirmationPdf(input: ArchivingConfirmationInput): Promise<Buffer> {
  const d = input.departure;
  return render(
    { title: 'Data archiving confirmation', subject: `${d.employeeId} ${d.id}`, createdAt: input.asOf },
    { label: `Offboard data archiving confirmation - departure ${d.id}` },
    (doc) => {
      doc.font('Helvetica-Bold').fontSize(16).text('Data archiving confirmation');
      doc.moveDown(0.4);
      fields(doc, [
        ['Departure', d.id],
        ['Employee', `${d.employeeName} (${d.employeeId})`],
        ['Legal hold', d.legalHold ? 'yes: no source data may be deleted' : 'no'],
        ['As of', iso(input.asOf)],
      ]);
      heading(doc, `Data sources (${input.sources.length})`);
      if (input.sources.length === 0) none(doc, 'data sources in the catalog');
      input.sources.forEach((s, i) => {
        entry(doc, `${i + 1}. ${s.sourceName} (${s.sourceId}) - status: ${s.status}`, [
          `What: ${s.what}`,
          `Retention policy: ${s.retentionPolicy}`,
          `Where: ${s.location ?? '-'}`,
          `Items: ${s.items ?? 'not counted'}; archived at: ${iso(s.archivedAt)}`,
          `Deletion of the source data: ${s.deletion}`,
          `Owner: ${s.owner}`,
        ]);
      });
      const handovers = input.handovers ?? [];
      if (handovers.length > 0) {
        heading(doc, 'Handed over to the manager');
        handovers.forEach((h, i) => {
          entry(doc, `${i + 1}. ${h.systemName} (${h.systemId}) - confirmed: ${iso(h.confirmedAt)}`, h.lines);
        });
      }
    },
  );
}

// ---------------------------------------------------------------- signed NDA acknowledgment

export interface SignedNdaInput {
  documentId: string;
  departureId: string;
  employeeId: string;
  title: string;
  text: string;
  /** SHA-256 of the NDA text that was shown and signed. */
  ndaSha256: string;
  signerName: string;
  signedAt: Date;
  ip: string;
}

/** The signed copy of the NDA acknowledgment: the text, then who signed it, when, from where. */
export function signedNdaPdf(input: SignedNdaInput): Promise<Buffer> {
  return render(
    { title: input.title, subject: `${input.employeeId} ${input.departureId}`, createdAt: input.signedAt },
    { label: `Offboard signed acknowledgment - document ${input.documentId}` },
    (doc) => {
      doc.font('Helvetica-Bold').fontSize(15).text(pdfSafe(input.title));
      doc.moveDown(0.5);
      doc.font('Helvetica').fontSize(10).fillColor('#000000');
      for (const para of input.text.split(/\n{2,}/)) {
        doc.text(pdfSafe(para.replace(/\n/g, ' ')));
        doc.moveDown(0.5);
      }
      heading(doc, 'Electronic signature');
      fields(doc, [
        ['Signed by', input.signerName],
        ['Signed at', iso(input.signedAt)],
        ['IP address', input.ip],
        ['Document SHA-256', input.ndaSha256],
        ['Document', input.documentId],
        ['Departure', input.departureId],
        ['Employee id', input.employeeId],
      ]);
      doc.moveDown(0.4);
      doc
        .font('Helvetica')
        .fontSize(8.5)
        .fillColor('#333333')
        .text(
          "Signed on the Offboard signing page through a single-use link sent to the signer's personal " +
            'email address. The signer typed their full name and ticked "I acknowledge".',
        );
    },
  );
}
