-- A notice period's scope step (kind scope, see STEP_KINDS in contract/plan.ts): the account reduced
-- at once, revoked when the last day ends.

ALTER TABLE "StepRecord" DROP CONSTRAINT "StepRecord_kind_check";

ALTER TABLE "StepRecord" ADD CONSTRAINT "StepRecord_kind_check" CHECK (kind IN
  ('revoke', 'discover_owned', 'revoke_owned', 'scope'));
