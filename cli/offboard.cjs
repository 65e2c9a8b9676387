#!/usr/bin/env node
// The `offboard` bin: runs the TypeScript CLI through tsx (a runtime dependency), no build step.
require('tsx/cjs');
const { run } = require('./main.ts');

// `offboard list | head`: a closed pipe ends the command quietly.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

run(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  // The Temporal and HTTP clients may hold handles open; the command is done.
  setImmediate(() => process.exit(code));
});
