-- AlterTable
ALTER TABLE "Departure" ADD COLUMN     "legalHold" BOOLEAN NOT NULL DEFAULT false;

-- CreateTable
CREATE TABLE "Asset" (
    "id" TEXT NOT NULL,
    "tag" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "category" TEXT NOT NULL,
    "serial" TEXT,
    "assignedToEmployeeId" TEXT,
    "status" TEXT NOT NULL DEFAULT 'deployed',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Asset_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "AssetRecovery" (
    "id" TEXT NOT NULL,
    "departureId" TEXT NOT NULL,
    "assetSource" TEXT NOT NULL,
    "assetId" TEXT NOT NULL,
    "assetTag" TEXT NOT NULL,
    "assetName" TEXT NOT NULL,
    "route" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "dueAt" TIMESTAMP(3),
    "secondDueAt" TIMESTAMP(3),
    "labelRef" TEXT,
    "appointmentAt" TIMESTAMP(3),
    "receivedAt" TIMESTAMP(3),
    "receivedBy" TEXT,
    "condition" TEXT,
    "inspectedBy" TEXT,
    "notes" TEXT,
    "recoveryPlan" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "AssetRecovery_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "CustodyEntry" (
    "id" BIGSERIAL NOT NULL,
    "recoveryId" TEXT NOT NULL,
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "event" TEXT NOT NULL,
    "actor" TEXT NOT NULL,
    "details" JSONB,

    CONSTRAINT "CustodyEntry_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Document" (
    "id" TEXT NOT NULL,
    "departureId" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "storageLocation" TEXT,
    "sha256" TEXT,
    "contentType" TEXT,
    "content" BYTEA,
    "meta" JSONB,
    "issuedAt" TIMESTAMP(3),
    "completedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Document_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "AccessLink" (
    "id" TEXT NOT NULL,
    "departureId" TEXT NOT NULL,
    "documentId" TEXT NOT NULL,
    "purpose" TEXT NOT NULL,
    "tokenSha256" TEXT NOT NULL,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "usedAt" TIMESTAMP(3),
    "usedFromIp" TEXT,
    "reminders" INTEGER NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "AccessLink_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ArchiveRecord" (
    "id" TEXT NOT NULL,
    "departureId" TEXT NOT NULL,
    "sourceId" TEXT NOT NULL,
    "sourceName" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "retentionPolicy" TEXT NOT NULL,
    "location" TEXT,
    "items" INTEGER,
    "archivedAt" TIMESTAMP(3),
    "details" JSONB,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "ArchiveRecord_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "Asset_tag_key" ON "Asset"("tag");

-- CreateIndex
CREATE INDEX "Asset_assignedToEmployeeId_idx" ON "Asset"("assignedToEmployeeId");

-- CreateIndex
CREATE INDEX "AssetRecovery_status_idx" ON "AssetRecovery"("status");

-- CreateIndex
CREATE INDEX "AssetRecovery_assetTag_idx" ON "AssetRecovery"("assetTag");

-- CreateIndex
CREATE UNIQUE INDEX "AssetRecovery_departureId_assetSource_assetId_key" ON "AssetRecovery"("departureId", "assetSource", "assetId");

-- CreateIndex
CREATE INDEX "CustodyEntry_recoveryId_idx" ON "CustodyEntry"("recoveryId");

-- CreateIndex
CREATE INDEX "Document_status_idx" ON "Document"("status");

-- CreateIndex
CREATE UNIQUE INDEX "Document_departureId_type_key" ON "Document"("departureId", "type");

-- CreateIndex
CREATE UNIQUE INDEX "AccessLink_tokenSha256_key" ON "AccessLink"("tokenSha256");

-- CreateIndex
CREATE INDEX "AccessLink_departureId_idx" ON "AccessLink"("departureId");

-- CreateIndex
CREATE UNIQUE INDEX "ArchiveRecord_departureId_sourceId_key" ON "ArchiveRecord"("departureId", "sourceId");

-- AddForeignKey
ALTER TABLE "AssetRecovery" ADD CONSTRAINT "AssetRecovery_departureId_fkey" FOREIGN KEY ("departureId") REFERENCES "Departure"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "CustodyEntry" ADD CONSTRAINT "CustodyEntry_recoveryId_fkey" FOREIGN KEY ("recoveryId") REFERENCES "AssetRecovery"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Document" ADD CONSTRAINT "Document_departureId_fkey" FOREIGN KEY ("departureId") REFERENCES "Departure"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ArchiveRecord" ADD CONSTRAINT "ArchiveRecord_departureId_fkey" FOREIGN KEY ("departureId") REFERENCES "Departure"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

