import type { OperationOutcomeIssue } from 'fhir/r4';
import { FhirError, issue } from '../errors.js';
import type { EntryRequest } from './entries.js';

const SPEC = 'https://hl7.org/fhir/R4/http.html#trules';

/**
 * The resources a transaction's DELETE, POST, PUT and PATCH entries act on, each claimed
 * by one entry. FHIR: "If any resource identities (including resolved identities from
 * conditional update/delete) overlap in steps 1-3 (DELETE, POST, PUT/PATCH), then the
 * transaction SHALL fail."
 *
 * Identities come in two passes: those the URLs name (`PUT Patient/1`), claimed before
 * anything runs, and what each entry actually wrote (conditional updates and deletes,
 * known only once they resolve), claimed as it runs. A conditional create that matched
 * writes nothing and claims nothing; GET entries are not in steps 1-3.
 * See: https://hl7.org/fhir/R4/http.html#trules
 */
export class TransactionIdentities {
  private readonly owners = new Map<string, EntryRequest>();

  /**
   * Claims the identities the entries' URLs name. Throws a 400 naming every entry of
   * every overlap, before anything is written.
   */
  static fromUrls(entries: EntryRequest[]): TransactionIdentities {
    const byIdentity = new Map<string, EntryRequest[]>();
    for (const e of entries) {
      const identity = urlIdentity(e);
      if (identity !== undefined) byIdentity.set(identity, [...(byIdentity.get(identity) ?? []), e]);
    }
    const overlaps = [...byIdentity].filter(([, claimants]) => claimants.length > 1);
    if (overlaps.length > 0) throw new FhirError(400, overlaps.map(([identity, claimants]) => overlapIssue(identity, claimants)));
    const out = new TransactionIdentities();
    for (const [identity, [e]] of byIdentity) out.owners.set(identity, e);
    return out;
  }

  /**
   * Claims what entry `e` wrote, as version references (`Patient/1/_history/2`, from the
   * write session). Throws a 400 when another entry already claimed one of them.
   */
  claimWritten(e: EntryRequest, written: readonly string[]): void {
    for (const ref of written) {
      const identity = ref.split('/').slice(0, 2).join('/');
      const owner = this.owners.get(identity);
      if (owner !== undefined && owner !== e) throw new FhirError(400, [overlapIssue(identity, [owner, e].sort((a, b) => a.index - b.index))]);
      this.owners.set(identity, e);
    }
  }
}

/** `Type/id` of a DELETE, PUT or PATCH by id; a POST and a conditional URL (`Type?…`) name none. */
function urlIdentity(e: EntryRequest): string | undefined {
  const { method } = e.request;
  if (method === 'GET' || method === 'POST' || e.segments.length !== 2) return undefined;
  return e.segments.join('/');
}

function overlapIssue(identity: string, claimants: EntryRequest[]): OperationOutcomeIssue {
  const named = claimants.map((e) => `Bundle.entry[${e.index}] (${e.request.method} ${e.request.url})`);
  return issue(
    'invalid',
    `${named.join(' and ')} act on the same resource ${identity}; in a transaction each resource may be the subject of one DELETE, POST, PUT or PATCH entry (${SPEC}). Nothing was written`,
    claimants.map((e) => `Bundle.entry[${e.index}]`),
  );
}
