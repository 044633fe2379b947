#!/usr/bin/env node
// The `kiln` command: runs the compiled server (built by `npm install` / `npm run build`).
import '../dist/server/bin.js';
