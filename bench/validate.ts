/**
 * Measures `validateResource` on the Synthea R4 sample: every resource of every transaction
 * bundle in the data folder (default ../shared/data/synthea-r4 beside the project, or the first argument).
 * Prints the one-time definition load cost, then µs per resource over several passes, and
 * fails (exit 1) if any Synthea resource is reported invalid.
 *
 * Run: node --import tsx bench/validate.ts [dir]
 * See: https://hl7.org/fhir/R4/validation.html
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { FhirError } from '../server/errors.js';
import { validateResource } from '../server/validate/index.js';

const dir = process.argv[2] ?? new URL('../../shared/data/synthea-r4', import.meta.url).pathname;
const PASSES = 5;

function loadResources(): unknown[] {
  const out: unknown[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json.gz') || f.endsWith('.json'))) {
    const raw = readFileSync(join(dir, file));
    const bundle = JSON.parse((file.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8'));
    for (const entry of bundle.entry ?? []) out.push(entry.resource);
  }
  return out;
}

function validateAll(resources: unknown[]): number {
  let failures = 0;
  for (const r of resources) {
    try {
      validateResource(r, { requireId: true });
    } catch (err) {
      if (!(err instanceof FhirError)) throw err;
      if (failures++ < 5) console.error(JSON.stringify(err.issues.slice(0, 3)));
    }
  }
  return failures;
}

const resources = loadResources();
let t = performance.now();
validateResource({ resourceType: 'Patient' });
console.log(`definitions loaded in ${(performance.now() - t).toFixed(0)} ms`);

t = performance.now();
const failures = validateAll(resources);
const firstPass = (performance.now() - t) * 1000 / resources.length;
console.log(`${resources.length} resources, first pass (models compiled on demand): ${firstPass.toFixed(2)} µs/resource`);

const times: number[] = [];
for (let i = 0; i < PASSES; i++) {
  t = performance.now();
  validateAll(resources);
  times.push((performance.now() - t) * 1000 / resources.length);
}
times.sort((a, b) => a - b);
console.log(`steady state over ${PASSES} passes: best ${times[0].toFixed(2)}, median ${times[PASSES >> 1].toFixed(2)} µs/resource`);
console.log(failures === 0 ? 'all Synthea resources valid' : `${failures} Synthea resources reported invalid`);
if (failures > 0) process.exitCode = 1;
