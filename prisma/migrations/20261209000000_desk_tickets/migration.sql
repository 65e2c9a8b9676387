-- Service desk tickets (config/desk.ts, docs/configuration.md "Service desk tickets"): a ticket step
-- may also open a ticket in Jira Service Management or ServiceNow. The Offboard ticket keeps which desk
-- (TICKET_DESKS in contract/records.ts), the desk's reference (Jira issue key or ServiceNow sys_id) and
-- link, and when it was last read back. A desk ticket closed as not done makes the ticket `declined`
-- (TICKET_STATUSES). test/evidence.test.ts compares every CHECK with its union.

-- AlterTable
ALTER TABLE "Ticket" ADD COLUMN "deskKind" TEXT,
ADD COLUMN "deskRef" TEXT,
ADD COLUMN "deskUrl" TEXT,
ADD COLUMN "deskCheckedAt" TIMESTAMP(3);

-- CreateIndex
CREATE INDEX "Ticket_deskKind_deskRef_idx" ON "Ticket"("deskKind", "deskRef");

ALTER TABLE "Ticket" ADD CONSTRAINT "Ticket_deskKind_check" CHECK ("deskKind" IN
  ('jira', 'servicenow'));

ALTER TABLE "Ticket" DROP CONSTRAINT "Ticket_status_check";
ALTER TABLE "Ticket" ADD CONSTRAINT "Ticket_status_check" CHECK (status IN
  ('open', 'done', 'breached', 'declined'));
