import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

/** Where the shared Synthea transaction bundles live (read in place, never copied into the repo). */
export { SYNTHEA_DIR } from '../helpers/synthea.js';
import { SYNTHEA_DIR } from '../helpers/synthea.js';

export type JsonResource = Record<string, unknown> & { resourceType: string; id: string };

/** The bundle files, sorted so every run reads the same ones; empty when the data set is absent. */
export function syntheaFiles(): string[] {
  if (!existsSync(SYNTHEA_DIR)) return [];
  return readdirSync(SYNTHEA_DIR)
    .filter((f) => f.endsWith('.json.gz'))
    .sort()
    .map((f) => join(SYNTHEA_DIR, f));
}

/**
 * The resources of one transaction bundle, with `urn:uuid:` references rewritten to
 * `Type/id` as transaction processing does before resources are stored (so that
 * reference parameters, `resolve() is Patient` included, see real targets).
 */
export function readSyntheaBundle(file: string): JsonResource[] {
  const bundle = JSON.parse(gunzipSync(readFileSync(file)).toString('utf8')) as {
    entry: { fullUrl: string; resource: JsonResource }[];
  };
  const local = new Map<string, string>();
  for (const e of bundle.entry) local.set(e.fullUrl, `${e.resource.resourceType}/${e.resource.id}`);
  return bundle.entry.map(
    (e) => JSON.parse(JSON.stringify(e.resource), (key, value) => (key === 'reference' && local.has(value) ? local.get(value) : value)) as JsonResource,
  );
}
