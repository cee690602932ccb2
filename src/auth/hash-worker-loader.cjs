// Starts the TypeScript hash worker (hash-worker.ts) when Latchkey runs from its sources. Node 20
// applies no ESM loader hooks inside worker threads, so tsx's require hook compiles the module.
// A build (npm run build) starts the compiled hash-worker.js directly and never uses this file.
const { workerData } = require("node:worker_threads");

require(workerData.tsxRequireHook).register();
require(workerData.entry);
