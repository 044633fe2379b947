/**
 * Measures search index extraction (server/search/extract.ts) over the whole Synthea set:
 * `node --import tsx bench/extract.ts [dir]`. Prints µs per resource; the ingest budget
 * (10,000 resources/s including validation and writes) leaves extraction well under 40.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { extractIndexRows } from '../server/search/extract.js';

const dir = process.argv[2] ?? process.env.KILN_SYNTHEA_DIR ?? new URL('../../shared/data/synthea-r4', import.meta.url).pathname;

/** Resources as a transaction stores them: `urn:uuid:` references already resolved to `Type/id`. */
function load(): { resourceType: string }[] {
  const out: { resourceType: string }[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json.gz'))) {
    const bundle = JSON.parse(gunzipSync(readFileSync(join(dir, file))).toString('utf8')) as { entry: { fullUrl: string; resource: { resourceType: string; id: string } }[] };
    const local = new Map(bundle.entry.map((e) => [e.fullUrl, `${e.resource.resourceType}/${e.resource.id}`]));
    for (const e of bundle.entry) out.push(JSON.parse(JSON.stringify(e.resource), (k, v) => (k === 'reference' && local.has(v) ? local.get(v) : v)));
  }
  return out;
}

const resources = load();
let rows = 0;
for (let warm = 0; warm < 2; warm++) for (const r of resources) extractIndexRows(r);
const runs: number[] = [];
for (let run = 0; run < 5; run++) {
  rows = 0;
  const start = process.hrtime.bigint();
  for (const r of resources) {
    const x = extractIndexRows(r);
    rows += x.token.length + x.string.length + x.reference.length + x.date.length + x.number.length + x.quantity.length + x.uri.length;
  }
  runs.push(Number(process.hrtime.bigint() - start) / 1000 / resources.length);
}
runs.sort((a, b) => a - b);
const median = runs[2];
console.log(`${resources.length} resources, ${(rows / resources.length).toFixed(1)} rows each`);
console.log(`extraction: ${median.toFixed(2)} µs/resource median of 5 (best ${runs[0].toFixed(2)}, worst ${runs[4].toFixed(2)}) = ${Math.round(1e6 / median)} resources/s`);
