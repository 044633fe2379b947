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

/**
 * Removes duplicates among the rows appended from index `from` — repeated values (the
 * same encounter on every claim item) would otherwise be stored many times, and a
 * FHIRPath union de-duplicates too. Quadratic, but a parameter yields few rows.
 */
export function dedupeFrom(list: object[], from: number): void {
  let w = from;
  for (let r = from; r < list.length; r++) {
    let dup = false;
    for (let i = from; i < w && !dup; i++) dup = sameRow(list[i], list[r]);
    if (!dup) list[w++] = list[r];
  }
  list.length = w;
}
