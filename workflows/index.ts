/** Workflow entry point bundled by the worker. */
export { offboardingWorkflow } from './offboarding';
export { rescissionReviewWorkflow } from './rescission';
export { hrisReconciliationWorkflow } from './hris-reconcile';
export { auditExportWorkflow } from './audit-export';
export { deskTicketsWorkflow } from './desk-tickets';
