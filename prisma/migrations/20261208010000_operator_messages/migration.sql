-- Operator messages are claimed before they are sent (server/workflow-calls.ts sendOnce), so the API
-- no longer holds a transaction open across a Temporal call.

CREATE TABLE "OperatorMessage" (
    "key" TEXT NOT NULL,
    "departureId" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "actor" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'claimed',
    "claimedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "sentAt" TIMESTAMP(3),
    CONSTRAINT "OperatorMessage_pkey" PRIMARY KEY ("key")
);

CREATE INDEX "OperatorMessage_departureId_idx" ON "OperatorMessage"("departureId");

ALTER TABLE "OperatorMessage" ADD CONSTRAINT "OperatorMessage_status_check" CHECK (status IN ('claimed', 'sent'));
