import { badRequest } from '../errors.js';
import { elementOf, topLevelElements } from '../fhir/elements.js';
import type { AnyResource } from '../service/types.js';

const SUBSETTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED' };
const ALWAYS = new Set(['resourceType', 'id', 'meta']);

export type Summary = 'true' | 'false' | 'text' | 'data' | 'count';

/**
 * Applies `_summary` or `_elements` to one resource, marking a reduced copy SUBSETTED.
 * See: https://hl7.org/fhir/R4/search.html#summary and https://hl7.org/fhir/R4/search.html#elements
 */
export function shapeResource(resource: AnyResource, summary: Summary | undefined, elements: string[] | undefined): AnyResource {
  if (summary && summary !== 'false') return applySummary(resource, summary);
  if (elements) return applyElements(resource, elements);
  return resource;
}

function applySummary(resource: AnyResource, summary: Summary): AnyResource {
  const facts = topLevelElements(resource.resourceType);
  if (!facts) return resource;
  const keep = (name: string): boolean => {
    if (ALWAYS.has(name)) return true;
    const el = elementOf(facts, name);
    if (summary === 'true') return facts.summary.has(el);
    if (summary === 'text') return el === 'text' || facts.mandatory.has(el);
    return el !== 'text';
  };
  return subset(resource, keep);
}

function applyElements(resource: AnyResource, elements: string[]): AnyResource {
  const facts = topLevelElements(resource.resourceType);
  const wanted = new Set(elements);
  return subset(resource, (name) => {
    if (ALWAYS.has(name)) return true;
    const el = facts ? elementOf(facts, name) : name;
    return wanted.has(el) || wanted.has(name) || (facts?.mandatory.has(el) ?? false);
  });
}

function subset(resource: AnyResource, keep: (name: string) => boolean): AnyResource {
  const out: AnyResource = { resourceType: resource.resourceType };
  for (const [k, v] of Object.entries(resource)) if (keep(k)) out[k] = v;
  const meta = { ...(resource.meta ?? {}) };
  meta.tag = [...(meta.tag ?? []).filter((t) => t.code !== SUBSETTED.code), SUBSETTED];
  out.meta = meta;
  return out;
}

/** Reads `_summary`, 400 for unknown values. */
export function parseSummary(values: string[] | undefined): Summary | undefined {
  if (!values) return undefined;
  const v = values[values.length - 1];
  if (!['true', 'false', 'text', 'data', 'count'].includes(v)) {
    throw badRequest(`_summary must be one of true, false, text, data, count; got "${v}"`, '_summary');
  }
  return v as Summary;
}

/** Reads `_elements` (comma-separated element names). */
export function parseElements(values: string[] | undefined): string[] | undefined {
  if (!values) return undefined;
  const names = values.flatMap((v) => v.split(',')).map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (!/^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)?$/.test(n)) throw badRequest(`_elements: "${n}" is not an element name`, '_elements');
  }
  return names.map((n) => (n.includes('.') ? n.split('.')[1] : n));
}
