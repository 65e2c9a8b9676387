/**
 * The contract every HR system adapter fulfils (docs/hris.md): verify the vendor's own webhook
 * signature, read an employee from its API, list what changed since a cursor, list everyone (for the
 * data-quality report and snapshot diffs) and, where the vendor allows it, write a file to the
 * employee's record and list the files back. Vendors send ids, not data: a delivery is only a hint.
 */
import type { HrisVendor, TerminationType, WorkLocation } from '../contract';

/** A signed HTTP delivery, with the raw body the signature covers. */
export interface VendorDelivery {
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  receivedAt: Date;
}

/** Why a delivery is refused before anything is read or stored. */
export type Refusal =
  | { ok: false; signatureResult: 'missing' | 'invalid' | 'stale'; message: string }
  /** Signed correctly, but the body is not what the vendor sends. */
  | { ok: false; signatureResult: 'valid'; message: string; body: true };

/** A verified delivery: its identity (for replay refusal) and the employees it names. */
export interface Verified {
  ok: true;
  /** Unique per signed delivery, `<vendor>:<hex>`: the same bytes sent again carry the same id. */
  deliveryId: string;
  /** The vendor's event type (`employee.updated`, `employee.left`, …). */
  type: string;
  /** Vendor employee ids the delivery names (hints: each record is fetched from the API). */
  employeeIds: string[];
}

/** An employee as the adapter read it from the vendor's API, in Offboard's terms. */
export interface VendorEmployee {
  /** The vendor's own id (what its webhooks and API name). */
  vendorId: string;
  /** The employee id Offboard matches accounts by (the vendor id unless the adapter says otherwise). */
  id: string;
  name: string;
  workEmail: string | null;
  personalEmail: string | null;
  managerEmail: string | null;
  department: string | null;
  /** As the vendor names it (for HRIS_REMOTE_LOCATIONS and the report). */
  location: string | null;
  /**
   * `terminated`: a termination is recorded (maybe future-dated); `active`: none; `unclear`: the record
   * contradicts itself (inactive without a termination date): reported to HR, never acted on.
   */
  employment: 'active' | 'terminated' | 'unclear';
  /** The last day (YYYY-MM-DD) when terminated. */
  lastDay: string | null;
  terminationType: TerminationType | null;
  /** The vendor's status word as shown (for the data-quality report's status flips). */
  status: string;
}

export interface ChangedSince {
  /** Vendor ids changed (or deleted) since the cursor. */
  ids: string[];
  /** Where the next run starts. */
  cursor: string;
}

/** A file on the employee's record. */
export interface RecordFile {
  id: string;
  name: string;
}

export interface HrisAdapter {
  vendor: HrisVendor;
  /** The vendor's name for people ("BambooHR"). */
  title: string;
  verify(d: VendorDelivery, now: Date): Verified | Refusal;
  /** null: the vendor has no such employee (deleted). */
  fetchEmployee(vendorId: string): Promise<VendorEmployee | null>;
  changedSince(cursor: string | null, now: Date): Promise<ChangedSince>;
  /** Everyone, current and former (data quality; vendors without a changed-since list diff it). */
  roster(): Promise<VendorEmployee[]>;
  /** Where the vendor lets Offboard write the certificate to the record; absent: it cannot. */
  files?: {
    upload(vendorId: string, file: { name: string; bytes: Buffer }): Promise<RecordFile>;
    list(vendorId: string): Promise<RecordFile[]>;
  };
}

export type { WorkLocation };
