-- Red verification-report items nobody has resolved (e.g. an account the final live audit found still
-- active), kept by the verification activities so lists can filter on them like on red steps.

-- AlterTable
ALTER TABLE "Departure" ADD COLUMN "redItems" INTEGER NOT NULL DEFAULT 0;
