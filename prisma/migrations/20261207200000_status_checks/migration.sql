-- Statuses are checked columns: each allows exactly the values of its one TypeScript union in
-- contract/ (test/statuses.test.ts compares them), so a misspelt or dead status (the departure status
-- `failed` was read in four places and never written) cannot reach the database.

ALTER TABLE "Departure" ADD CONSTRAINT "Departure_status_check" CHECK (status IN
  ('accepted', 'awaiting_approval', 'started', 'running', 'scoped', 'awaiting_signoff', 'completed',
   'rescinded', 'blocked'));

ALTER TABLE "StepRecord" ADD CONSTRAINT "StepRecord_status_check" CHECK (status IN
  ('pending', 'running', 'green', 'yellow', 'red', 'halted'));

ALTER TABLE "StepRecord" ADD CONSTRAINT "StepRecord_kind_check" CHECK (kind IN
  ('revoke', 'discover_owned', 'revoke_owned'));

ALTER TABLE "StepRecord" ADD CONSTRAINT "StepRecord_integration_check" CHECK (integration IN
  ('api', 'ticket', 'manual'));

ALTER TABLE "StepRecord" ADD CONSTRAINT "StepRecord_tier_check" CHECK (tier IN
  ('identity', 'directory', 'vpn', 'mfa', 'application'));
