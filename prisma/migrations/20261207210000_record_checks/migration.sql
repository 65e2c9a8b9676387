-- The rest of the closed vocabularies become checked columns, each allowing exactly the values of
-- its one TypeScript union in contract/ (records.ts, messages.ts, views.ts), and test/evidence.test.ts
-- compares every CHECK with its union. Values nothing writes any more are gone: ArchiveRecord
-- `failed` and `skipped_legal_hold` (legal hold is the archive's `deletion` detail), Review `closed`.
-- A nullable column (TriggerEvent.hrisStatus) may still be NULL. (The departure and step checks of
-- 20261207200000_status_checks are compared by the same test.)

ALTER TABLE "Departure" ADD CONSTRAINT "Departure_workLocation_check" CHECK ("workLocation" IN
  ('remote', 'in_office', 'hybrid'));

ALTER TABLE "Departure" ADD CONSTRAINT "Departure_terminationType_check" CHECK ("terminationType" IN
  ('voluntary', 'involuntary'));

ALTER TABLE "TriggerEvent" ADD CONSTRAINT "TriggerEvent_source_check" CHECK (source IN
  ('hris', 'operator'));

ALTER TABLE "TriggerEvent" ADD CONSTRAINT "TriggerEvent_signatureResult_check" CHECK ("signatureResult" IN
  ('valid', 'operator', 'missing', 'stale', 'invalid'));

ALTER TABLE "TriggerEvent" ADD CONSTRAINT "TriggerEvent_outcome_check" CHECK (outcome IN
  ('invalid', 'rejected', 'ignored', 'duplicate', 'queued', 'held', 'updated', 'rescinded', 'started'));

ALTER TABLE "TriggerEvent" ADD CONSTRAINT "TriggerEvent_hrisStatus_check" CHECK ("hrisStatus" IN
  ('terminated', 'resigned_confirmed', 'pending_resignation', 'active', 'termination_rescinded'));

ALTER TABLE "Ticket" ADD CONSTRAINT "Ticket_status_check" CHECK (status IN
  ('open', 'done', 'breached'));

ALTER TABLE "Review" ADD CONSTRAINT "Review_kind_check" CHECK (kind IN
  ('rescission'));

ALTER TABLE "Review" ADD CONSTRAINT "Review_status_check" CHECK (status IN
  ('open'));

ALTER TABLE "WorkflowMessage" ADD CONSTRAINT "WorkflowMessage_kind_check" CHECK (kind IN
  ('rescind', 'lastDayChanged', 'contactUpdated'));

ALTER TABLE "WorkflowMessage" ADD CONSTRAINT "WorkflowMessage_status_check" CHECK (status IN
  ('pending', 'delivered', 'not_applicable'));

ALTER TABLE "Notification" ADD CONSTRAINT "Notification_status_check" CHECK (status IN
  ('pending', 'sent'));

ALTER TABLE "Asset" ADD CONSTRAINT "Asset_status_check" CHECK (status IN
  ('deployed', 'return_in_progress', 'returned', 'lost'));

ALTER TABLE "AssetRecovery" ADD CONSTRAINT "AssetRecovery_assetSource_check" CHECK ("assetSource" IN
  ('builtin', 'snipeit'));

ALTER TABLE "AssetRecovery" ADD CONSTRAINT "AssetRecovery_route_check" CHECK (route IN
  ('remote', 'in_office'));

ALTER TABLE "AssetRecovery" ADD CONSTRAINT "AssetRecovery_status_check" CHECK (status IN
  ('pending', 'requested', 'received', 'escalated_it', 'escalated_department_head'));

ALTER TABLE "CustodyEntry" ADD CONSTRAINT "CustodyEntry_event_check" CHECK (event IN
  ('label_issued', 'requested', 'marked_return_in_progress', 'appointment_booked', 'received', 'checked_in', 'escalated_it', 'escalated_department_head'));

ALTER TABLE "Document" ADD CONSTRAINT "Document_type_check" CHECK (type IN
  ('completion_certificate', 'data_archiving_confirmation', 'nda_acknowledgment', 'benefits_notification', 'payroll_notification', 'exit_survey'));

ALTER TABLE "Document" ADD CONSTRAINT "Document_status_check" CHECK (status IN
  ('pending', 'generated', 'sent', 'expired', 'delivered', 'signed', 'answered'));

ALTER TABLE "AccessLink" ADD CONSTRAINT "AccessLink_purpose_check" CHECK (purpose IN
  ('nda_signature', 'exit_survey'));

ALTER TABLE "ArchiveRecord" ADD CONSTRAINT "ArchiveRecord_status_check" CHECK (status IN
  ('pending', 'archived'));

ALTER TABLE "Resolution" ADD CONSTRAINT "Resolution_how_check" CHECK (how IN
  ('fixed_by_hand', 'redriven_confirmed', 'accepted_risk', 'no_account'));
