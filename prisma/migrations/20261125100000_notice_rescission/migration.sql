-- AlterTable
ALTER TABLE "Departure" ADD COLUMN     "rescindedAt" TIMESTAMP(3),
ADD COLUMN     "revokeRestAt" TIMESTAMP(3);

-- AlterTable
ALTER TABLE "StepRecord" ADD COLUMN     "integration" TEXT NOT NULL DEFAULT 'api',
ADD COLUMN     "kind" TEXT NOT NULL DEFAULT 'revoke',
ADD COLUMN     "privileged" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "scheduledFor" TIMESTAMP(3);

-- CreateTable
CREATE TABLE "Review" (
    "id" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "departureId" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'open',
    "summary" JSONB NOT NULL,
    "openedBy" TEXT NOT NULL,
    "closedBy" TEXT,
    "closedAt" TIMESTAMP(3),
    "note" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Review_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "WorkflowMessage" (
    "id" TEXT NOT NULL,
    "departureId" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "lastError" TEXT,
    "outcome" TEXT,
    "deliveredAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "WorkflowMessage_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "Review_key_key" ON "Review"("key");

-- CreateIndex
CREATE INDEX "Review_status_idx" ON "Review"("status");

-- CreateIndex
CREATE INDEX "Review_departureId_idx" ON "Review"("departureId");

-- CreateIndex
CREATE INDEX "WorkflowMessage_status_createdAt_idx" ON "WorkflowMessage"("status", "createdAt");

-- CreateIndex
CREATE INDEX "WorkflowMessage_departureId_idx" ON "WorkflowMessage"("departureId");

-- AddForeignKey
ALTER TABLE "Review" ADD CONSTRAINT "Review_departureId_fkey" FOREIGN KEY ("departureId") REFERENCES "Departure"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "WorkflowMessage" ADD CONSTRAINT "WorkflowMessage_departureId_fkey" FOREIGN KEY ("departureId") REFERENCES "Departure"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

