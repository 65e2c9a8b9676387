-- Refused webhook deliveries counted, not stored row by row (server/intake/rejected.ts, docs/api.md
-- "Refused deliveries"): one row per sender, reason and UTC hour with a count, so that a flood of forged
-- deliveries cannot fill the database. Only the first few of each hour are also TriggerEvent rows.

-- CreateTable
CREATE TABLE "RejectedDelivery" (
    "source" TEXT NOT NULL,
    "reason" TEXT NOT NULL,
    "hour" TIMESTAMP(3) NOT NULL,
    "count" INTEGER NOT NULL,
    "firstAt" TIMESTAMP(3) NOT NULL,
    "lastAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "RejectedDelivery_pkey" PRIMARY KEY ("source","reason","hour")
);

-- CreateIndex
CREATE INDEX "RejectedDelivery_hour_idx" ON "RejectedDelivery"("hour");
