import type { OperationOutcomeIssue } from 'fhir/r4';
import { FhirError, issue } from '../errors.js';

interface RawEntry {
  fullUrl?: unknown;
  resource?: { meta?: { versionId?: unknown } };
}

/**
 * bdl-7: "FullUrl must be unique in a bundle, or else entries with the same fullUrl must
 * have different meta.versionId (except in history bundles)", that is
 * `entry.where(fullUrl.exists()).select(fullUrl&resource.meta.versionId).isDistinct()`.
 * A Bundle that breaks it is invalid as a whole, batch as well as transaction: which of
 * two entries a reference to their fullUrl means cannot be told. Throws a 400 naming
 * every entry that shares a fullUrl and version.
 * See: https://hl7.org/fhir/R4/bundle.html#invs
 */
export function checkUniqueFullUrls(entries: readonly RawEntry[]): void {
  const seen = new Map<string, number[]>();
  entries.forEach((e, index) => {
    if (typeof e?.fullUrl !== 'string') return;
    const versionId = e.resource?.meta?.versionId;
    const key = JSON.stringify([e.fullUrl, typeof versionId === 'string' ? versionId : null]);
    seen.set(key, [...(seen.get(key) ?? []), index]);
  });
  const issues: OperationOutcomeIssue[] = [];
  for (const [key, indexes] of seen) {
    if (indexes.length < 2) continue;
    const [fullUrl, versionId] = JSON.parse(key) as [string, string | null];
    const named = indexes.map((i) => `Bundle.entry[${i}]`);
    const version = versionId === null ? '' : ` and meta.versionId "${versionId}"`;
    issues.push(
      issue(
        'invalid',
        `${named.join(' and ')} have the same fullUrl "${fullUrl}"${version}; a fullUrl must be unique in a Bundle unless the entries are different versions of one resource (bdl-7). Nothing was processed`,
        named.map((n) => `${n}.fullUrl`),
      ),
    );
  }
  if (issues.length > 0) throw new FhirError(400, issues);
}
