import { addDate, addNumber, addQuantity, addReference, addString, addToken, addUri } from './normalize.js';
import type { SearchParamType } from './registry.js';
import type { IndexKind, IndexRows, TypedValue } from './types.js';

/**
 * Which function turns the values of each type of search parameter into index rows, and
 * the tables it writes to (https://hl7.org/fhir/R4/search.html#ptypes). Shared by the
 * extraction of ordinary parameters (extract.ts) and of composite components (composite.ts).
 */

/** Appends the rows of one value of parameter `code`. */
export type Adder = (rows: IndexRows, code: string, tv: TypedValue) => void;

export const ADDERS: Partial<Record<SearchParamType, Adder>> = {
  token: addToken,
  string: addString,
  reference: addReference,
  date: addDate,
  number: addNumber,
  quantity: addQuantity,
  uri: addUri,
};

/** The tables each type of parameter writes to (reference parameters add `:identifier` tokens). */
export const KINDS_WRITTEN: Partial<Record<SearchParamType, IndexKind[]>> = {
  token: ['token'],
  string: ['string'],
  reference: ['reference', 'token'],
  date: ['date'],
  number: ['number'],
  quantity: ['quantity'],
  uri: ['uri'],
};

/** Row equality for de-duplication: all rows of a table have the same columns. */
function sameRow(a: object, b: object): boolean {
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  for (const key in x) if (x[key] !== y[key]) return false;
  return true;
}

/** Past this many rows, duplicates are found by a key per row instead of by comparing every pair. */
const PAIRWISE_ROWS = 16;

/**
 * Removes duplicates among the rows appended from index `from` — repeated values (the
 * same encounter on every claim item) would otherwise be stored many times, and a
 * FHIRPath union de-duplicates too. A parameter usually yields a few rows, compared
 * pairwise; a long list (a Provenance naming every resource of a transaction) is keyed.
 */
export function dedupeFrom(list: object[], from: number): void {
  if (list.length - from > PAIRWISE_ROWS) return dedupeKeyed(list, from);
  let w = from;
  for (let r = from; r < list.length; r++) {
    let dup = false;
    for (let i = from; i < w && !dup; i++) dup = sameRow(list[i], list[r]);
    if (!dup) list[w++] = list[r];
  }
  list.length = w;
}

/**
 * A row's defined fields as one string. The rows of one call of `dedupeFrom` come from one
 * adder, which writes their fields in one order, so the key needs no sorting: a list of a
 * million rows (a Patient with 200,000 names) is keyed in a fraction of a second.
 */
function rowKey(row: object): string {
  const x = row as Record<string, unknown>;
  let key = '';
  for (const name in x) {
    const v = x[name];
    if (v === undefined) continue;
    // The type's initial keeps 1 and "1" apart; \u0000 cannot occur in an indexed value.
    key += `${name}\u0001${typeof v === 'string' ? 's' : (typeof v)[0]}${String(v)}\u0000`;
  }
  return key;
}

/** `dedupeFrom` for long lists: a row's defined fields are its key. */
function dedupeKeyed(list: object[], from: number): void {
  const seen = new Set<string>();
  let w = from;
  for (let r = from; r < list.length; r++) {
    const key = rowKey(list[r]);
    if (seen.has(key)) continue;
    seen.add(key);
    list[w++] = list[r];
  }
  list.length = w;
}
