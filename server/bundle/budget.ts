import { FhirError, badRequest } from '../errors.js';

/**
 * How many resources the response to one batch or transaction may hold
 * (`KILN_MAX_BUNDLE_RESULTS`). The response is built and sent whole, so without a bound
 * one request of a few kilobytes (thousands of `GET Observation?_count=1000`) asks for
 * more than the process can hold, and a request of many small entries makes a response
 * many times its own size.
 *
 * Every entry takes one place for its own answer (a resource or an OperationOutcome),
 * reserved before anything runs: a Bundle with more entries than the budget is refused
 * whole (`checkEntryCount`). A GET entry's matches and includes take what they return.
 * GET entries are counted as they run: one that would take the response past the budget
 * has its result dropped at once, so the response never holds more, and no GET entry
 * runs after it. What writes return is bounded by the request body (`KILN_MAX_BODY_BYTES`).
 * See: https://hl7.org/fhir/R4/valueset-issue-type.html (too-costly)
 */
export class ResultBudget {
  private used: number;
  private spentAt: number | undefined;

  constructor(
    private readonly limit: number,
    entries: number,
  ) {
    this.used = entries;
  }

  /** Before a GET entry runs: refuses it once an earlier one spent the budget. */
  open(index: number): void {
    if (this.spentAt === undefined) return;
    throw tooCostly(index, `this entry was not run: Bundle.entry[${this.spentAt}] reached this Bundle's budget of ${this.limit} resources in its response`);
  }

  /** After a GET entry ran: counts what it returned, and refuses its result if that passes the budget. */
  close(index: number, returned: number): void {
    const more = Math.max(0, returned - 1);
    if (this.used + more <= this.limit) {
      this.used += more;
      return;
    }
    this.spentAt = index;
    throw tooCostly(index, `this entry returns ${returned} resources, which would take the response past this Bundle's budget of ${this.limit} resources, so its result was left out`);
  }
}

/**
 * Refuses, before anything runs, a Bundle with more entries than its response may hold:
 * each entry answers with one resource at least.
 */
export function checkEntryCount(entries: number, limit: number): void {
  if (entries <= limit) return;
  throw badRequest(
    `This Bundle has ${entries} entries, more than the ${limit} resources the response to a batch or transaction may hold (KILN_MAX_BUNDLE_RESULTS); nothing was processed. Split it into several Bundles, or load large data sets with kiln import`,
    'Bundle.entry',
    'too-costly',
  );
}

const ADVICE = 'Run large searches on their own and follow their "next" links, ask for smaller pages with _count, or split the work over several Bundles';

function tooCostly(index: number, what: string): FhirError {
  const at = `Bundle.entry[${index}]`;
  return badRequest(`${at}: ${what} (KILN_MAX_BUNDLE_RESULTS). ${ADVICE}.`, at, 'too-costly');
}

/**
 * How many resources a GET entry's answer holds: the entries of a searchset or history
 * Bundle (matches and includes, not the outcome entry), else the one resource read.
 */
export function returnedResources(body: unknown): number {
  const b = body as { resourceType?: string; entry?: { search?: { mode?: string } }[] } | undefined;
  if (b?.resourceType !== 'Bundle') return b === undefined ? 0 : 1;
  return (b.entry ?? []).filter((e) => e.search?.mode !== 'outcome').length;
}
