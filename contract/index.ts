/**
 * The contract between workflow, worker, server and CLI, one module per concern: `ids` (task queues,
 * workflow ids, search attributes), `plan` (the input and the revocation plan), `messages` (signals,
 * updates, the status query, the HRIS vocabulary), `views` (what operators see), `records` (what the database's checked columns allow) and `match` (how a leaver
 * was matched to an account). Clients import from here, never from `workflows/`.
 */
export * from './desk';
export * from './ids';
export * from './match';
export * from './messages';
export * from './plan';
export * from './records';
export * from './views';
