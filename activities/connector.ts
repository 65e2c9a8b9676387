/** What every revocation connector implements. */

/** The person whose access is revoked, as loaded from the departure record (never from history). */
export interface Subject {
  departureId: string;
  employeeId: string;
  employeeName: string;
  workEmail: string;
  /** ISO instant the termination was confirmed: revocations must take effect after it. */
  confirmedAt: string;
}

export interface RevokeResult {
  /** What the connector changed in this call (empty when the target was already in the revoked state). */
  changes: string[];
  /** What reading the target back showed: the confirmation evidence. */
  confirmation: Record<string, unknown>;
  /** One line for the step table. */
  detail: string;
}

export interface RevocationConnector {
  /** Short description of the executing system for the step table, e.g. "entra @ graph.microsoft.com". */
  readonly executingSystem: string;
  /** The step's action name. */
  readonly action: string;
  /**
   * Revokes the subject's access and confirms it by reading the target back. Idempotent: safe to call
   * again after a crash; a target already in the revoked state is confirmed without being changed.
   */
  revoke(subject: Subject): Promise<RevokeResult>;
  /** Live check: does the subject still hold an active account here? */
  hasActiveAccount(subject: Subject): Promise<boolean>;
  close?(): Promise<void>;
}
