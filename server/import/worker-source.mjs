// Starts the import's preparing thread from the TypeScript sources (tests, benchmarks
// run through tsx): tsx compiles worker.ts and what it imports as they load. The
// compiled server starts dist/server/import/worker.js directly.
import { register } from 'tsx/esm/api';

register();
await import(new URL('./worker.ts', import.meta.url).href);
