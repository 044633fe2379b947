/**
 * Shapes of the search index rows. One table per search parameter type; every row
 * carries the parameter `code` and, once written, the owning resource's key `rid` and
 * `resource_type` (added by `write.ts`, not by extraction).
 *
 * Modifier rows: a few modifiers are served by extra rows in the same table under a
 * derived code, so that the ordinary `(resource_type, code, value, …)` index answers
 * them too:
 * - `<code>:text` (token table) — normalised CodeableConcept.text / Coding.display /
 *   Identifier.type.text, for `:text` (https://hl7.org/fhir/R4/search.html#modifiers).
 * - `<code>:of-type` (token table) — system = Identifier.type.coding.system,
 *   value = `<type code>|<identifier value>`, for `:of-type`.
 * - `<code>:identifier` (token table) — Reference.identifier of a reference parameter,
 *   for `:identifier`.
 *
 * Composite rows: a composite parameter (https://hl7.org/fhir/R4/search.html#composite)
 * writes its component values under `<code>$<n>` (`componentCode`), in the table of the
 * n-th component's type, and numbers the items its expression selects (`item`): the rows
 * of one item share the number, so a composite matches when one item's rows match every
 * component. Only items with a value for every component are written.
 */

/** What every row has: the parameter code, and the item number of a composite component row. */
export interface RowBase {
  code: string;
  /** The composite item this component row belongs to; absent on every other row. */
  item?: number;
}

/** https://hl7.org/fhir/R4/search.html#token — exact (case-sensitive) code matching. */
export interface TokenRow extends RowBase {
  system: string | null;
  value: string | null;
}

/** https://hl7.org/fhir/R4/search.html#string — `value` is normalised, `exact` is as written. */
export interface StringRow extends RowBase {
  value: string;
  exact: string;
}

/**
 * https://hl7.org/fhir/R4/search.html#reference — a literal reference. `url` is set for
 * absolute URLs (then type/id are parsed from a RESTful URL when they can be), canonicals
 * (version split off into `target_version`) and URIs; relative references leave it null.
 */
export interface ReferenceRow extends RowBase {
  target_type: string | null;
  target_id: string | null;
  target_version: string | null;
  url: string | null;
}

/**
 * https://hl7.org/fhir/R4/search.html#date — the closed range `[start, end]` the value
 * covers, both as UTC instants `YYYY-MM-DDTHH:mm:ss.sssZ` (which sort as text). Open
 * Period ends use `DATE_MIN` / `DATE_MAX`.
 */
export interface DateRow extends RowBase {
  start: string;
  end: string;
  /** `SPAN_SHORT` when the range is shorter than a day, else `SPAN_LONG` (see ranges.ts `spanOf`). */
  span: number;
}

/**
 * https://hl7.org/fhir/R4/search.html#number — `low..high` is the implicit range of the
 * stated precision (5.4 → 5.35..5.45). Null `low`/`high` means unbounded.
 */
export interface NumberRow extends RowBase {
  value: number | null;
  low: number | null;
  high: number | null;
}

/**
 * https://hl7.org/fhir/R4/search.html#quantity — `unit_code` is Quantity.code (or a Money
 * currency), `unit` the human unit (matched when the search gives no system).
 */
export interface QuantityRow extends RowBase {
  system: string | null;
  unit_code: string | null;
  unit: string | null;
  value: number | null;
  low: number | null;
  high: number | null;
}

/** https://hl7.org/fhir/R4/search.html#uri */
export interface UriRow extends RowBase {
  value: string;
}

/** All index rows of one resource, by table. */
export interface IndexRows {
  token: TokenRow[];
  string: StringRow[];
  reference: ReferenceRow[];
  date: DateRow[];
  number: NumberRow[];
  quantity: QuantityRow[];
  uri: UriRow[];
}

/** The keys of `IndexRows`; table `search_<kind>` holds each. */
export type IndexKind = keyof IndexRows;

export const INDEX_KINDS: readonly IndexKind[] = ['token', 'string', 'reference', 'date', 'number', 'quantity', 'uri'];

/** The table a parameter of search type `type` is indexed in: the one named like it (composite and special have none). */
export function indexKindOf(type: string): IndexKind | undefined {
  return (INDEX_KINDS as readonly string[]).includes(type) ? (type as IndexKind) : undefined;
}

export function emptyIndexRows(): IndexRows {
  return { token: [], string: [], reference: [], date: [], number: [], quantity: [], uri: [] };
}

/** Lower bound used for a Period without a start. */
export const DATE_MIN = '0001-01-01T00:00:00.000Z';
/** Upper bound used for a Period without an end (an ongoing period). */
export const DATE_MAX = '9999-12-31T23:59:59.999Z';

/**
 * Longest text kept in an indexed column. PostgreSQL refuses b-tree entries over ~2.7 kB,
 * and an index key may hold two such columns (3 bytes per UTF-16 unit at worst).
 */
export const MAX_INDEXED_TEXT = 256;
/** Longest URL / URI kept (indexed alone, so it may be longer). */
export const MAX_INDEXED_URL = 512;

/** The code of the rows of component `n` (from 0) of composite `code`: `code-value-quantity$1`. */
export function componentCode(code: string, n: number): string {
  return `${code}$${n}`;
}

/** A value found by a search parameter expression, with its FHIR type name (`HumanName`, `string`, …). */
export interface TypedValue {
  v: unknown;
  t: string;
}

/** `_id` and `_lastUpdated`: columns of `resources`, which have no index rows. */
export const COLUMN_PARAMS: ReadonlySet<string> = new Set(['_id', '_lastUpdated']);
