-- Matching a leaver to their accounts: account ids the HRIS or an operator named per system, and the
-- second operator's approval an involuntary departure of a protected account waits for.

-- AlterTable
ALTER TABLE "Departure" ADD COLUMN "accounts" JSONB,
ADD COLUMN "submittedBy" TEXT,
ADD COLUMN "approvalReason" TEXT,
ADD COLUMN "approvedBy" TEXT,
ADD COLUMN "approvedAt" TIMESTAMP(3);
