import { writeFileSync } from 'node:fs';
import { serialize } from 'node:v8';
import { expandValueSets } from './bindings.js';
import { readDefinitions } from './definitions.js';
import { requiredCodeValueSets } from './model.js';
import { fingerprint, PREBUILT_FILE, type Prebuilt } from './prebuilt.js';

/**
 * `npm run build`, after compiling: saves what the validator takes from the definitions
 * package (prebuilt.ts), so that the compiled server does not parse the package at start.
 */
const defs = readDefinitions();
const saved: Prebuilt = { fingerprint: fingerprint(), defs, codeSets: expandValueSets(requiredCodeValueSets(defs)) };
writeFileSync(PREBUILT_FILE, serialize(saved));
