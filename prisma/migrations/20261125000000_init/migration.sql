-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateTable
CREATE TABLE "Departure" (
    "id" TEXT NOT NULL,
    "employeeId" TEXT NOT NULL,
    "terminationKey" TEXT NOT NULL,
    "workflowId" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'accepted',
    "employeeName" TEXT NOT NULL,
    "workEmail" TEXT NOT NULL,
    "personalEmail" TEXT,
    "department" TEXT NOT NULL,
    "managerEmail" TEXT,
    "departmentHeadEmail" TEXT,
    "workLocation" TEXT NOT NULL,
    "terminationType" TEXT NOT NULL,
    "confirmedAt" TIMESTAMP(3) NOT NULL,
    "lastDay" TEXT,
    "occurredAt" TIMESTAMP(3) NOT NULL,
    "workflowStartedAt" TIMESTAMP(3),
    "startAttempts" INTEGER NOT NULL DEFAULT 0,
    "lastStartError" TEXT,
    "redSteps" INTEGER NOT NULL DEFAULT 0,
    "completedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Departure_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "TriggerEvent" (
    "id" TEXT NOT NULL,
    "source" TEXT NOT NULL DEFAULT 'hris',
    "webhookId" TEXT,
    "idempotencyKey" TEXT,
    "receivedAt" TIMESTAMP(3) NOT NULL,
    "signatureResult" TEXT NOT NULL,
    "hrisStatus" TEXT,
    "employeeId" TEXT,
    "outcome" TEXT NOT NULL,
    "reason" TEXT,
    "bodySha256" TEXT NOT NULL,
    "bodyBytes" INTEGER NOT NULL,
    "payload" JSONB,
    "departureId" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "TriggerEvent_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "StepRecord" (
    "id" TEXT NOT NULL,
    "departureId" TEXT NOT NULL,
    "systemId" TEXT NOT NULL,
    "systemName" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "tier" TEXT NOT NULL,
    "ordinal" INTEGER NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "executingSystem" TEXT NOT NULL,
    "startedAt" TIMESTAMP(3),
    "actedAt" TIMESTAMP(3),
    "confirmedAt" TIMESTAMP(3),
    "finishedAt" TIMESTAMP(3),
    "lastError" TEXT,
    "evidence" JSONB,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "StepRecord_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Ticket" (
    "id" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "departureId" TEXT NOT NULL,
    "systemId" TEXT NOT NULL,
    "summary" TEXT NOT NULL,
    "ownerName" TEXT NOT NULL,
    "ownerEmail" TEXT NOT NULL,
    "slaDueAt" TIMESTAMP(3) NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'open',
    "closedBy" TEXT,
    "closedAt" TIMESTAMP(3),
    "note" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Ticket_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Notification" (
    "id" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "departureId" TEXT,
    "purpose" TEXT NOT NULL,
    "recipient" TEXT NOT NULL,
    "subject" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "messageId" TEXT,
    "smtpResponse" TEXT,
    "sentAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Notification_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "AuditEvent" (
    "id" BIGSERIAL NOT NULL,
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "actor" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "departureId" TEXT,
    "details" JSONB,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "AuditEvent_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "Departure_employeeId_idx" ON "Departure"("employeeId");

-- CreateIndex
CREATE INDEX "Departure_status_idx" ON "Departure"("status");

-- CreateIndex
CREATE INDEX "Departure_department_idx" ON "Departure"("department");

-- CreateIndex
CREATE INDEX "Departure_workflowStartedAt_idx" ON "Departure"("workflowStartedAt");

-- CreateIndex
CREATE UNIQUE INDEX "Departure_employeeId_terminationKey_key" ON "Departure"("employeeId", "terminationKey");

-- CreateIndex
CREATE UNIQUE INDEX "TriggerEvent_idempotencyKey_key" ON "TriggerEvent"("idempotencyKey");

-- CreateIndex
CREATE INDEX "TriggerEvent_receivedAt_idx" ON "TriggerEvent"("receivedAt");

-- CreateIndex
CREATE INDEX "TriggerEvent_employeeId_idx" ON "TriggerEvent"("employeeId");

-- CreateIndex
CREATE INDEX "TriggerEvent_departureId_idx" ON "TriggerEvent"("departureId");

-- CreateIndex
CREATE INDEX "StepRecord_status_idx" ON "StepRecord"("status");

-- CreateIndex
CREATE UNIQUE INDEX "StepRecord_departureId_systemId_action_key" ON "StepRecord"("departureId", "systemId", "action");

-- CreateIndex
CREATE UNIQUE INDEX "Ticket_key_key" ON "Ticket"("key");

-- CreateIndex
CREATE INDEX "Ticket_status_idx" ON "Ticket"("status");

-- CreateIndex
CREATE INDEX "Ticket_departureId_idx" ON "Ticket"("departureId");

-- CreateIndex
CREATE UNIQUE INDEX "Notification_key_key" ON "Notification"("key");

-- CreateIndex
CREATE INDEX "Notification_departureId_idx" ON "Notification"("departureId");

-- CreateIndex
CREATE INDEX "AuditEvent_departureId_idx" ON "AuditEvent"("departureId");

-- CreateIndex
CREATE INDEX "AuditEvent_at_idx" ON "AuditEvent"("at");

-- AddForeignKey
ALTER TABLE "TriggerEvent" ADD CONSTRAINT "TriggerEvent_departureId_fkey" FOREIGN KEY ("departureId") REFERENCES "Departure"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "StepRecord" ADD CONSTRAINT "StepRecord_departureId_fkey" FOREIGN KEY ("departureId") REFERENCES "Departure"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Ticket" ADD CONSTRAINT "Ticket_departureId_fkey" FOREIGN KEY ("departureId") REFERENCES "Departure"("id") ON DELETE RESTRICT ON UPDATE CASCADE;


-- The audit trail is append-only: refuse UPDATE, DELETE and TRUNCATE at the database itself.
-- The body is an E-string with each semicolon written as \073: the driver-adapter migration runner
-- splits statements at every semicolon, even inside quoted function bodies (prisma/prisma#22495).
CREATE FUNCTION "audit_event_append_only"() RETURNS trigger LANGUAGE plpgsql AS E'BEGIN RAISE EXCEPTION ''AuditEvent is append-only: % refused'', TG_OP USING ERRCODE = ''insufficient_privilege''\073 END\073';

CREATE TRIGGER "AuditEvent_no_update_delete" BEFORE UPDATE OR DELETE ON "AuditEvent"
  FOR EACH ROW EXECUTE FUNCTION "audit_event_append_only"();
CREATE TRIGGER "AuditEvent_no_truncate" BEFORE TRUNCATE ON "AuditEvent"
  FOR EACH STATEMENT EXECUTE FUNCTION "audit_event_append_only"();
