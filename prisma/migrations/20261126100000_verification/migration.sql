-- CreateTable
CREATE TABLE "VerificationReport" (
    "id" TEXT NOT NULL,
    "departureId" TEXT NOT NULL,
    "compiledAt" TIMESTAMP(3) NOT NULL,
    "items" JSONB NOT NULL,
    "accessAudit" JSONB NOT NULL,
    "green" INTEGER NOT NULL,
    "yellow" INTEGER NOT NULL,
    "red" INTEGER NOT NULL,
    "ackDueAt" TIMESTAMP(3) NOT NULL,
    "hrAcknowledgedAt" TIMESTAMP(3),
    "hrAcknowledgedBy" TEXT,
    "hrNote" TEXT,
    "itAcknowledgedAt" TIMESTAMP(3),
    "itAcknowledgedBy" TEXT,
    "itNote" TEXT,
    "reminders" INTEGER NOT NULL DEFAULT 0,
    "ackEscalatedAt" TIMESTAMP(3),
    "redEscalatedAt" TIMESTAMP(3),
    "finalAudit" JSONB,
    "finalAuditAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "VerificationReport_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Resolution" (
    "id" TEXT NOT NULL,
    "departureId" TEXT NOT NULL,
    "itemId" TEXT NOT NULL,
    "how" TEXT NOT NULL,
    "note" TEXT NOT NULL,
    "resolvedBy" TEXT NOT NULL,
    "role" TEXT NOT NULL,
    "resolvedAt" TIMESTAMP(3) NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Resolution_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "VerificationReport_departureId_key" ON "VerificationReport"("departureId");

-- CreateIndex
CREATE INDEX "VerificationReport_compiledAt_idx" ON "VerificationReport"("compiledAt");

-- CreateIndex
CREATE INDEX "Resolution_departureId_idx" ON "Resolution"("departureId");

-- CreateIndex
CREATE UNIQUE INDEX "Resolution_departureId_itemId_resolvedAt_key" ON "Resolution"("departureId", "itemId", "resolvedAt");

-- AddForeignKey
ALTER TABLE "VerificationReport" ADD CONSTRAINT "VerificationReport_departureId_fkey" FOREIGN KEY ("departureId") REFERENCES "Departure"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Resolution" ADD CONSTRAINT "Resolution_departureId_fkey" FOREIGN KEY ("departureId") REFERENCES "Departure"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

