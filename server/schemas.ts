/**
 * The request schemas of the operator API (zod), one module so the routes and the OpenAPI description
 * (server/openapi.ts) share them without importing each other. Free text goes to the database (audit
 * details, messages): `text()` refuses what PostgreSQL cannot store.
 */
import { z } from 'zod';
import { DEPARTURE_STATUSES, RESOLUTION_KINDS } from '../contract';
import { text } from './hris';
import { WORKFLOW_STATES } from './workflow-state';

export const ticketConfirmBody = z.object({ note: text().trim().min(3).max(2000) }).strict();
export const rescindBody = z.object({ reason: text().trim().min(3).max(2000) }).strict();
export const redriveBody = z
  .object({
    stepIds: z.array(text().min(1).max(300)).min(1).max(100).optional(),
    reason: text().trim().min(3).max(2000),
  })
  .strict();
export const assetReceivedBody = z
  .object({
    /** Who received it; defaults to the operator recording it. */
    receivedBy: text().trim().min(1).max(200).optional(),
    condition: z.enum(['good', 'damaged', 'missing_parts', 'wiped', 'not_working']),
    inspectedBy: text().trim().min(1).max(200),
    notes: text().trim().max(2000).default(''),
  })
  .strict();

/** An archive owner's word that the leaver's data is archived, relayed by IT. */
export const archiveConfirmedBody = z
  .object({
    /** How many items were archived (what the owner reported). */
    items: z.number().int().min(0).max(1_000_000_000),
    note: text().trim().min(3).max(2000),
  })
  .strict();

export const acknowledgeBody = z.object({ note: text().trim().max(2000).optional() }).strict();
export const resolveBody = z
  .object({
    /** `step:<stepId>`, `asset:<tag>`, `document:<type>` or `access:<systemId>`. */
    itemId: text().min(3).max(400),
    how: z.enum(RESOLUTION_KINDS),
    note: text().trim().min(3).max(4000),
  })
  .strict();

const instant = z.union([z.iso.datetime({ offset: true }), z.iso.date()]);
/** The query of `GET /departures`. */
export const departureListQuery = z
  .object({
    status: z.enum(DEPARTURE_STATUSES).optional(),
    department: z.string().max(200).optional(),
    employeeId: z.string().min(1).max(64).optional(),
    red: z.enum(['true', 'false']).optional(),
    from: instant.optional(),
    to: instant.optional(),
    workflow: z.enum(WORKFLOW_STATES).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
  })
  .strict();

export const approveBody = z.object({ note: text().trim().min(3).max(2000) }).strict();
export const accountBody = z
  .object({
    systemId: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be a catalog system id'),
    accountId: text().trim().min(1).max(1024),
    note: text().trim().min(3).max(2000),
  })
  .strict();
