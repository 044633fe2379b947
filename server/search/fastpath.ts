import { canonicalType, elementInfo, isTypeOf } from './model.js';
import { referenceTargetType } from './reference.js';
import { splitUnion } from './registry.js';
import type { TypedValue } from './types.js';

/**
 * Compiles the common shapes of search parameter expressions into plain JSON walks, so
 * indexing a resource does not pay for a general FHIRPath evaluation. The shapes covered
 * are those of the R4 definitions (https://hl7.org/fhir/R4/searchparameter-registry.html):
 *
 *   Type.a.b.c            element paths, choice elements (`Observation.value`) included
 *   …where(resolve() is T)   references whose literal (or `type`) names T
 *   …where(f = 'lit')      filter on a primitive child
 *   (… as T), ….as(T), ….ofType(T)   type filters (R4's `as` on a collection means ofType)
 *   …[n]                  indexer
 *   X.exists() and X != false   Patient.deceased's boolean
 *
 * Anything else returns null and is evaluated by the FHIRPath engine instead. The
 * element types come from the same model the engine uses, so both produce the same
 * typed values; test/search/parity.test.ts checks this on real and made-up data.
 */

/** Selects a parameter's values from a resource. */
export type Accessor = (resource: Record<string, unknown>) => TypedValue[];
type Step = (input: TypedValue[]) => TypedValue[];

/** What is known, at compile time, about the values a step yields. */
interface State {
  context: string | null;
  choices: string[] | null;
}

const FIELD = /^([a-z][A-Za-z0-9]*)(?:\[(\d+)\])?$/;
const WHERE_RESOLVE = /^where\(resolve\(\) is ([A-Z][A-Za-z]*)\)$/;
const WHERE_EQUALS = /^where\(([a-z][A-Za-z0-9]*)\s*=\s*'([^'\\]*)'\)$/;
const TYPE_FILTER = /^(?:as|ofType)\(([A-Za-z]+)\)$/;
const AS_OPERATOR = /^\((.+) as ([A-Za-z]+)\)(\..+)?$/;

function push(out: TypedValue[], x: unknown, t: string): void {
  if (x === undefined || x === null) return;
  if (!Array.isArray(x)) {
    out.push({ v: x, t });
    return;
  }
  for (const e of x) if (e !== undefined && e !== null) out.push({ v: e, t });
}

/** A child element of known type; inline resources (`Bundle.entry.resource`) carry their own. */
function fieldStep(name: string, type: string): Step {
  const isResource = type === 'Resource';
  return (input) => {
    const out: TypedValue[] = [];
    for (const n of input) {
      if (typeof n.v !== 'object') continue;
      const x = (n.v as Record<string, unknown>)[name];
      if (!isResource) push(out, x, type);
      else if (x && typeof x === 'object') out.push({ v: x, t: String((x as { resourceType?: unknown }).resourceType) });
    }
    return out;
  };
}

/** A choice element: each allowed type is its own JSON key (`valueQuantity`, `valueString`). */
function choiceStep(name: string, choices: string[]): Step {
  const keys = choices.map((c) => [name + c, canonicalType(c)] as const);
  return (input) => {
    const out: TypedValue[] = [];
    for (const n of input) {
      if (typeof n.v !== 'object') continue;
      const o = n.v as Record<string, unknown>;
      for (const [key, type] of keys) if (o[key] !== undefined) push(out, o[key], type);
    }
    return out;
  };
}

function filterStep(keep: (n: TypedValue) => boolean): Step {
  return (input) => input.filter(keep);
}

/** Splits a path at the dots that are not inside parentheses or quotes. */
function segments(path: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < path.length; i++) {
    const c = path[i];
    if (c === "'") quoted = !quoted;
    else if (!quoted && c === '(') depth++;
    else if (!quoted && c === ')') depth--;
    else if (!quoted && depth === 0 && c === '.') {
      out.push(path.slice(start, i));
      start = i + 1;
    }
  }
  out.push(path.slice(start));
  return out;
}

/** Compiles one navigation segment; null when it is not a shape handled here. */
function compileSegment(seg: string, state: State, steps: Step[]): State | null {
  const field = FIELD.exec(seg);
  if (field) {
    if (state.choices || !state.context) return null;
    const info = elementInfo(state.context, field[1]);
    if (!info) return null;
    steps.push(info.choices ? choiceStep(field[1], info.choices) : fieldStep(field[1], info.type!));
    if (field[2] !== undefined) {
      const index = Number(field[2]);
      steps.push((input) => (index < input.length ? [input[index]] : []));
    }
    if (info.choices) return { context: null, choices: info.choices.map(canonicalType) };
    return { context: info.type === 'Resource' ? null : info.context, choices: null };
  }
  const resolve = WHERE_RESOLVE.exec(seg);
  if (resolve) {
    const target = resolve[1];
    steps.push(filterStep((n) => referenceTargetType(n.v) === target));
    return state;
  }
  const equals = WHERE_EQUALS.exec(seg);
  if (equals) {
    const [, name, literal] = equals;
    steps.push(filterStep((n) => typeof n.v === 'object' && (n.v as Record<string, unknown>)[name] === literal));
    return state;
  }
  const typed = TYPE_FILTER.exec(seg);
  if (typed) {
    const type = canonicalType(typed[1]);
    steps.push(filterStep((n) => isTypeOf(n.t, type)));
    return { context: type, choices: null };
  }
  return null;
}

/** Rewrites `(path as T).rest` to `path.ofType(T).rest`, the form `segments` walks. */
function unwrapAs(part: string): string {
  const m = AS_OPERATOR.exec(part.trim());
  return m ? `${m[1].trim()}.ofType(${m[2]})${m[3] ?? ''}` : part.trim();
}

const EMPTY: TypedValue[] = [];

/** The JSON keys the first segment reads: a parameter whose keys are all absent has no values. */
function firstKeys(seg: string, context: string): string[] | null {
  const field = FIELD.exec(seg);
  const info = field ? elementInfo(context, field[1]) : undefined;
  if (!field || !info) return null;
  return info.choices ? info.choices.map((c) => field[1] + c) : [field[1]];
}

/** An accessor and where its values are described in the model (null for a choice). */
interface CompiledMember {
  accessor: Accessor;
  context: string | null;
}

/**
 * Compiles one union member, evaluated on a value described at model path `at` (a
 * resource type, a data type or a backbone element path such as `Observation.component`).
 * `rootType`, when the value is a resource, lets the member start with its type name.
 */
function compileMember(part: string, at: string, rootType: string | undefined): CompiledMember | null {
  const segs = segments(unwrapAs(part));
  let state: State = { context: at, choices: null };
  const first = segs[0];
  if (rootType !== undefined && (first === rootType || first === 'Resource' || first === 'DomainResource')) {
    state = { context: first, choices: null };
    segs.shift();
  } else if (!FIELD.test(first)) {
    return null;
  }
  if (segs.length === 0) return { accessor: (value) => [{ v: value, t: at }], context: at };
  const keys = firstKeys(segs[0], state.context!);
  if (!keys) return null;
  const steps: Step[] = [];
  for (const seg of segs) {
    const next = compileSegment(seg, state, steps);
    if (!next) return null;
    state = next;
  }
  const accessor: Accessor = (value) => {
    let present = false;
    for (let k = 0; k < keys.length && !present; k++) present = value[keys[k]] !== undefined;
    if (!present) return EMPTY;
    let values: TypedValue[] = [{ v: value, t: at }];
    for (let i = 0; i < steps.length && values.length > 0; i++) values = steps[i](values);
    return values;
  };
  return { accessor, context: state.choices ? null : state.context };
}

/** Compiles one union member, evaluated on a resource of `resourceType`. */
function compilePart(part: string, resourceType: string): Accessor | null {
  return compileMember(part, resourceType, resourceType)?.accessor ?? null;
}

/** Concatenates the values of several accessors (a union, without the engine's de-duplication). */
function concatenated(accessors: Accessor[]): Accessor {
  if (accessors.length === 1) return accessors[0];
  return (value) => {
    let out = EMPTY;
    for (const a of accessors) {
      const values = a(value);
      if (values.length > 0) out = out.length === 0 ? values : out.concat(values);
    }
    return out;
  };
}

/**
 * The items one member of a composite's expression selects from a resource of
 * `resourceType` (`Observation.component`), and the model path that describes them, so
 * that the components can be compiled against it; null when the member is not a
 * shape handled here or does not lead to one element type.
 */
export function compileFastItems(part: string, resourceType: string): { accessor: Accessor; context: string } | null {
  const member = compileMember(part, resourceType, resourceType);
  return member && member.context !== null ? { accessor: member.accessor, context: member.context } : null;
}

/**
 * A fast accessor for `expression` evaluated on a value described at model path
 * `context` (a composite's component, relative to its item), or null as `compileFast`.
 */
export function compileFastAt(expression: string, context: string): Accessor | null {
  const accessors: Accessor[] = [];
  for (const part of splitUnion(expression)) {
    const member = compileMember(part, context, undefined);
    if (!member) return null;
    accessors.push(member.accessor);
  }
  return concatenated(accessors);
}

/**
 * A fast accessor for `expression` on `resourceType`, or null when some member of the
 * union has a shape this compiler does not handle. The returned arrays must not be
 * modified (an empty result is shared).
 */
export function compileFast(expression: string, resourceType: string): Accessor | null {
  const accessors: Accessor[] = [];
  for (const part of splitUnion(expression)) {
    const acc = compilePart(part, resourceType) ?? compileSpecial(part, resourceType);
    if (!acc) return null;
    accessors.push(acc);
  }
  return concatenated(accessors);
}

const EXISTS_NOT_FALSE = /^(.+)\.exists\(\) and (.+) != false$/;

/**
 * `X.exists() and X != false` (Patient.deceased: a deceasedDateTime counts as deceased):
 * true when X has a value other than `false`, else false — always exactly one boolean.
 */
function compileSpecial(part: string, resourceType: string): Accessor | null {
  const m = EXISTS_NOT_FALSE.exec(part.trim());
  if (!m || m[1].trim() !== m[2].trim()) return null;
  const inner = compilePart(m[1], resourceType);
  if (!inner) return null;
  return (resource) => {
    const values = inner(resource);
    const result = values.length > 0 && !(values.length === 1 && values[0].v === false);
    return [{ v: result, t: 'boolean' }];
  };
}
