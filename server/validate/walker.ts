import type { OperationOutcomeIssue } from 'fhir/r4';
import { issue } from '../errors.js';
import { CONDITIONAL_REFERENCE } from '../fhir/references.js';
import { isResourceTypeName, typeModel, type ElementModel, type TypeModel } from './model.js';

/**
 * The structural walk of a FHIR JSON resource against its compiled model: unknown elements,
 * JSON shapes (arrays vs single values, objects vs primitives, `null`, empty arrays/objects),
 * primitive formats, required-binding codes, cardinality and choice exclusivity, recursing
 * into datatypes, backbone elements, `_x` primitive-extension siblings and nested resources.
 * Every problem becomes an OperationOutcome issue whose `expression` is the FHIRPath of the
 * offending element (`Patient.name[0].given[1]`).
 *
 * See: https://hl7.org/fhir/R4/json.html and https://hl7.org/fhir/R4/validation.html
 */

type Code = OperationOutcomeIssue['code'];
type Json = Record<string, unknown>;

/** Thrown (and caught by the caller) once the issue cap is reached. */
export const STOP = Symbol('validation issue cap reached');

/** Deepest element path walked; anything deeper is reported instead of recursed into. */
const MAX_DEPTH = 256;

/** Collects issues and tracks the FHIRPath of the element being walked. */
export class Walker {
  readonly issues: OperationOutcomeIssue[] = [];
  /** Path segments: names, and array indexes as numbers. */
  readonly path: (string | number)[] = [];
  /** How many `entry.resource`/`parameter.resource` the walk is inside: resources held, not written. */
  held = 0;

  constructor(private readonly cap: number) {}

  /** The FHIRPath of the current element, optionally extended by one more segment. */
  expression(extra?: string | number): string {
    let out = '';
    const segments = extra === undefined ? this.path : [...this.path, extra];
    for (const s of segments) out += typeof s === 'number' ? `[${s}]` : out === '' ? s : `.${s}`;
    return out;
  }

  /** Records one issue at the current element (or its child `extra`); throws {@link STOP} at the cap. */
  report(code: Code, message: string, extra?: string | number, withExpression = true): void {
    this.issues.push(issue(code, message, withExpression ? this.expression(extra) : undefined));
    if (this.issues.length >= this.cap) throw STOP;
  }
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'null';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

function listCodes(codes: ReadonlySet<string>): string {
  const all = [...codes];
  return all.length <= 12 ? all.join(' | ') : `${all.slice(0, 12).join(' | ')} | …`;
}

/** Validates the content of a resource object (its `resourceType` already known to be `model`). */
export function walkResourceBody(w: Walker, obj: Json, model: TypeModel): void {
  walkObject(w, obj, model, true);
}

/** A resource nested in an element of type `Resource` (contained, `Bundle.entry.resource`…). */
function walkNestedResource(w: Walker, obj: Json): void {
  const rt = obj.resourceType;
  if (rt === undefined) return w.report('required', 'A resource must have a resourceType', 'resourceType');
  if (typeof rt !== 'string' || !isResourceTypeName(rt)) {
    return w.report('value', `Unknown resource type ${JSON.stringify(rt)}`, 'resourceType');
  }
  walkObject(w, obj, typeModel(rt) as TypeModel, true);
}

function walkObject(w: Walker, obj: Json, model: TypeModel, isResource: boolean): void {
  if (w.path.length > MAX_DEPTH) return w.report('too-costly', `Content is nested more than ${MAX_DEPTH} levels deep`);
  let choices: Map<string, string> | undefined;
  let empty = true;
  for (const key in obj) {
    empty = false;
    let el = model.elements.get(key);
    if (el !== undefined) {
      walkProperty(w, obj, key, el);
    } else if (key.charCodeAt(0) === 95 && (el = model.elements.get(key.slice(1))) !== undefined && el.ext !== undefined) {
      walkExtensionSibling(w, obj, key, el);
    } else {
      if (!isResource || key !== 'resourceType') w.report('structure', `Unknown element '${key}' in ${model.name}`, key);
      continue;
    }
    if (el.choice !== undefined) choices = checkChoice(w, choices, el);
  }
  if (empty) w.report('structure', 'Empty objects are not allowed in FHIR JSON');
  for (const rule of model.required) {
    if (!rule.names.some((n) => obj[n] !== undefined)) {
      w.report('required', `Missing required element '${rule.label}' in ${model.name}`, rule.label);
    }
  }
}

function checkChoice(w: Walker, seen: Map<string, string> | undefined, el: ElementModel): Map<string, string> {
  const choice = el.choice as string;
  const map = seen ?? new Map<string, string>();
  const prev = map.get(choice);
  if (prev === undefined) map.set(choice, el.name);
  else if (prev !== el.name) {
    w.report('structure', `Only one of ${choice}[x] may be present, but found both '${prev}' and '${el.name}'`, el.name);
  }
  return map;
}

function walkProperty(w: Walker, obj: Json, key: string, el: ElementModel): void {
  const v = obj[key];
  if (v === null) return w.report('structure', `'${key}' is null; null is not allowed in FHIR JSON`, key);
  if (!el.array) {
    if (Array.isArray(v)) return w.report('structure', `'${key}' must be a single value, not an array (max cardinality 1)`, key);
    w.path.push(key);
    walkValue(w, el, v);
    w.path.pop();
    return;
  }
  if (!Array.isArray(v)) return w.report('structure', `'${key}' must be a JSON array (it can repeat), not ${describe(v)}`, key);
  if (v.length === 0) return w.report('structure', `'${key}' is an empty array; empty arrays are not allowed in FHIR JSON`, key);
  if (v.length > el.max) w.report('structure', `'${key}' has ${v.length} items but at most ${el.max} are allowed`, key);
  const ext = el.ext !== undefined ? obj[`_${key}`] : undefined;
  w.path.push(key);
  for (let i = 0; i < v.length; i++) {
    const item: unknown = v[i];
    if (item !== null) {
      w.path.push(i);
      walkValue(w, el, item);
      w.path.pop();
    } else if (el.ext === undefined) {
      w.report('structure', `'${key}' item ${i} is null; null is not allowed in FHIR JSON`, i);
    } else if (!Array.isArray(ext) || ext[i] === null || ext[i] === undefined) {
      w.report('structure', `'${key}' item ${i} is null without a matching '_${key}' extension item`, i);
    }
  }
  w.path.pop();
}

function walkValue(w: Walker, el: ElementModel, v: unknown): void {
  if (el.primitive !== undefined) {
    const problem = el.primitive.check(v);
    if (problem !== undefined) w.report(problem.code, problem.message);
    else if (el.codes !== undefined && !el.codes.has(v as string)) {
      w.report('code-invalid', `'${String(v)}' is not a valid code for ${el.name}; allowed: ${listCodes(el.codes)}`);
    } else if (el.referenceString && w.held === 0 && CONDITIONAL_REFERENCE.test(v as string)) {
      w.report(
        'value',
        `'${String(v).slice(0, 200)}' is a conditional reference (a search), which the server resolves only in a transaction Bundle (https://hl7.org/fhir/R4/http.html#trules): send it in a transaction, or give the literal reference (Type/id)`,
      );
    }
  } else if (!isObject(v)) {
    const what = el.resource ? 'a resource' : (el.type as TypeModel).name;
    w.report('structure', `'${el.name}' must be a JSON object (${what}), not ${describe(v)}`);
  } else if (el.resource) {
    // A Bundle's entries and a Parameters' resources are held as they are; contained ones are written.
    const held = el.name === 'resource';
    if (held) w.held++;
    walkNestedResource(w, v);
    if (held) w.held--;
  } else {
    walkObject(w, v, el.type as TypeModel, false);
  }
}

/** A `_name` sibling carrying the id and extensions of primitive `name`. */
function walkExtensionSibling(w: Walker, obj: Json, key: string, el: ElementModel): void {
  const v = obj[key];
  const ext = el.ext as TypeModel;
  if (!el.array) {
    if (!isObject(v)) return w.report('structure', `'${key}' must be a JSON object, not ${describe(v)}`, el.name);
    w.path.push(el.name);
    walkObject(w, v, ext, false);
    w.path.pop();
    return;
  }
  if (!Array.isArray(v)) return w.report('structure', `'${key}' must be a JSON array, not ${describe(v)}`, el.name);
  if (v.length === 0) return w.report('structure', `'${key}' is an empty array; empty arrays are not allowed in FHIR JSON`, el.name);
  const values = obj[el.name];
  if (Array.isArray(values) && values.length !== v.length) {
    w.report('structure', `'${key}' has ${v.length} items but '${el.name}' has ${values.length}; they must align`, el.name);
  }
  w.path.push(el.name);
  for (let i = 0; i < v.length; i++) {
    const item: unknown = v[i];
    if (isObject(item)) {
      w.path.push(i);
      walkObject(w, item, ext, false);
      w.path.pop();
    } else if (item !== null) {
      w.report('structure', `'${key}' item ${i} must be a JSON object or null, not ${describe(item)}`, i);
    } else if (!Array.isArray(values)) {
      w.report('structure', `'${key}' item ${i} is null without a matching '${el.name}' value`, i);
    }
  }
  w.path.pop();
}
