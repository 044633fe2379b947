#!/usr/bin/env node
// The `kiln` command: runs the compiled server (built by `npm install` / `npm run build`).
import { main } from '../dist/server/cli.js';

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
