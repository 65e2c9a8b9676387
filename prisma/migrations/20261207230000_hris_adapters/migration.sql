-- Native HR system adapters (hris/, docs/hris.md): a trigger event may come from the scheduled
-- reconciliation with a vendor's API (source `reconciliation`, signature result `api_read`: Offboard
-- read the record itself, there was no delivery to verify). Each vendor keeps its reconciliation cursor
-- and last snapshot in "HrisSync". test/evidence.test.ts compares every CHECK with its union.

-- CreateTable
CREATE TABLE "HrisSync" (
    "vendor" TEXT NOT NULL,
    "cursor" TEXT,
    "snapshot" JSONB,
    "lastRunAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "HrisSync_pkey" PRIMARY KEY ("vendor")
);

ALTER TABLE "HrisSync" ADD CONSTRAINT "HrisSync_vendor_check" CHECK (vendor IN
  ('bamboohr', 'hibob', 'personio'));

ALTER TABLE "TriggerEvent" DROP CONSTRAINT "TriggerEvent_source_check";
ALTER TABLE "TriggerEvent" ADD CONSTRAINT "TriggerEvent_source_check" CHECK (source IN
  ('hris', 'operator', 'reconciliation'));

ALTER TABLE "TriggerEvent" DROP CONSTRAINT "TriggerEvent_signatureResult_check";
ALTER TABLE "TriggerEvent" ADD CONSTRAINT "TriggerEvent_signatureResult_check" CHECK ("signatureResult" IN
  ('valid', 'operator', 'missing', 'stale', 'invalid', 'api_read'));
