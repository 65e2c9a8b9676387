/** What every resource router is built from: the app's dependencies, its auth and its workflow calls. */
import type { Client } from '@temporalio/client';
import type { Db } from '../../lib/db';
import type { Logger } from '../../lib/logger';
import type { AccountPolicy } from '../account-policy';
import type { createAuth } from '../auth';
import type { Intake } from '../intake';
import type { Starter } from '../starter';
import type { WorkflowCalls } from '../workflow-calls';

export interface RouteContext {
  db: Db;
  client: Client;
  intake: Intake;
  starter: Starter;
  logger: Logger;
  maxBodyBytes: number;
  accounts: AccountPolicy;
  requireRole: ReturnType<typeof createAuth>;
  calls: WorkflowCalls;
}
