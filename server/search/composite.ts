import { ADDERS, dedupeFrom, KINDS_WRITTEN, type Adder } from './adders.js';
import { compileFast, compileFastAt, compileFastItems, type Accessor } from './fastpath.js';
import { compileItemsWithEngine, compileWithEngineAt, type EngineItem } from './fhirpath-eval.js';
import { addTokenCodes } from './normalize.js';
import { onRegistryChange, searchParamsFor, splitUnion, type SearchParamDef } from './registry.js';
import { componentCode, type IndexKind, type IndexRows, type TypedValue } from './types.js';

/**
 * Index rows of composite parameters (https://hl7.org/fhir/R4/search.html#composite).
 * A composite's expression selects items (`Observation.component`); each component's
 * expression is evaluated on one item at a time, and its values become rows under
 * `<code>$<n>` tagged with the item's number (see types.ts). A search then asks for
 * one item whose rows match every component, never for values taken from two items.
 * Items lacking a value for some component cannot match and get no rows.
 */

type Obj = Record<string, unknown>;
/** Selects a component's values from one item; `%resource` is the whole resource. */
type ItemAccessor = (item: unknown, resource: Obj) => TypedValue[];

interface Component {
  /** The row code, `<composite>$<n>`. */
  code: string;
  expression: string;
  add: Adder;
  kinds: IndexKind[];
  /** Accessors by the model path of the item, compiled on first use. */
  fast: Map<string, ItemAccessor | null>;
  engine: Map<string, ItemAccessor>;
}

/** One member of the composite's expression: where its items come from. */
interface Member {
  fast: { accessor: Accessor; context: string } | null;
  /** The components' fast accessors on this member's items, when every one has one. */
  bound: ItemAccessor[] | null;
  engine: () => (resource: Obj) => EngineItem[];
}

interface Composite {
  def: SearchParamDef;
  members: Member[];
  components: Component[];
  /** Every table the components write to. */
  kinds: IndexKind[];
}

const EMPTY: TypedValue[] = [];

/**
 * True when the composite can be indexed and searched: it has an expression and at least
 * two components, each with an expression and a known type of its own.
 */
export function isIndexableComposite(def: SearchParamDef): boolean {
  const parts = def.component ?? [];
  return def.type === 'composite' && def.expression !== undefined && parts.length >= 2 && parts.every((c) => c.type !== undefined && ADDERS[c.type] !== undefined && c.expression.trim() !== '');
}

function lazy<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= make());
}

function compile(def: SearchParamDef, resourceType: string): Composite {
  const components = (def.component ?? []).map((c, n): Component => ({
    code: componentCode(def.code, n),
    expression: c.expression,
    // Components need the values alone: a token's `:text` rows would be dropped again.
    add: c.type === 'token' ? addTokenCodes : ADDERS[c.type!]!,
    kinds: KINDS_WRITTEN[c.type!]!,
    fast: new Map(),
    engine: new Map(),
  }));
  const members = def.expressionParts.map((part): Member => {
    const fast = compileFastItems(part, resourceType);
    const accessors = fast ? components.map((c) => accessorFor(c, fast.context, resourceType, false)) : [];
    const bound = fast && components.every((c) => c.fast.get(fast.context)) ? accessors : null;
    return { fast, bound, engine: lazy(() => compileItemsWithEngine(part)) };
  });
  return { def, members, components, kinds: [...new Set(components.flatMap((c) => c.kinds))] };
}

const compiled = new Map<string, Composite[]>();
onRegistryChange(() => compiled.clear());

function compositesOf(resourceType: string): Composite[] {
  let list = compiled.get(resourceType);
  if (!list) {
    // A union of other composites is answered from their rows (union-params.ts).
    list = searchParamsFor(resourceType).filter((def) => isIndexableComposite(def) && !def.unionOf).map((def) => compile(def, resourceType));
    compiled.set(resourceType, list);
  }
  return list;
}

/** A fast accessor for a component on items described at `context`; `%resource.x` reads the resource. */
function compileComponentFast(expression: string, context: string, resourceType: string): ItemAccessor | null {
  const parts = splitUnion(expression);
  const onResource = parts.length === 1 ? /^%resource\.(.+)$/.exec(parts[0]) : null;
  if (onResource) {
    const acc = compileFast(`${resourceType}.${onResource[1]}`, resourceType);
    return acc && ((_item, resource) => acc(resource));
  }
  const acc = compileFastAt(expression, context);
  return acc && ((item) => (item !== null && typeof item === 'object' ? acc(item as Obj) : EMPTY));
}

function accessorFor(c: Component, context: string, resourceType: string, useEngine: boolean): ItemAccessor {
  if (!useEngine) {
    if (!c.fast.has(context)) c.fast.set(context, compileComponentFast(c.expression, context, resourceType));
    const fast = c.fast.get(context);
    if (fast) return fast;
  }
  let engine = c.engine.get(context);
  if (!engine) c.engine.set(context, (engine = compileWithEngineAt(c.expression, context)));
  return engine;
}

/**
 * Keeps, among the rows appended to `list` from `from`, those of `code` (a reference's
 * adder also writes `:identifier` rows, which components do not need), numbered `item`.
 */
function keepOwn(list: { code: string; item?: number }[], from: number, code: string, item: number): number {
  let w = from;
  for (let r = from; r < list.length; r++) {
    const row = list[r];
    if (row.code !== code) continue;
    row.item = item;
    list[w++] = row;
  }
  list.length = w;
  if (w - from > 1) dedupeFrom(list, from);
  return list.length - from;
}

/** Adds the rows of one item numbered `n`; false (and nothing added) when a component has no value. */
function addItem(rows: IndexRows, composite: Composite, values: TypedValue[][], n: number): boolean {
  const start = composite.kinds.map((k) => rows[k].length);
  for (let j = 0; j < composite.components.length; j++) {
    const c = composite.components[j];
    const marks = c.kinds.map((k) => rows[k].length);
    for (const tv of values[j]) c.add(rows, c.code, tv);
    let kept = 0;
    for (let k = 0; k < c.kinds.length; k++) kept += keepOwn(rows[c.kinds[k]], marks[k], c.code, n);
    if (kept === 0) {
      composite.kinds.forEach((k, i) => (rows[k].length = start[i]));
      return false;
    }
  }
  return true;
}

/**
 * Fills `values` with each component's values on `item`; false as soon as one has none.
 * The last components (the values) are the ones most often absent, so they go first.
 */
function collect(accessors: readonly ItemAccessor[], item: unknown, resource: Obj, values: TypedValue[][]): boolean {
  for (let j = accessors.length - 1; j >= 0; j--) {
    const found = accessors[j](item, resource);
    if (found.length === 0) return false;
    values[j] = found;
  }
  return true;
}

/** The items of one member, each with the model path its components are evaluated against. */
function itemsOf(member: Member, resource: Obj, useEngine: boolean): EngineItem[] {
  if (useEngine || !member.fast) return member.engine()(resource);
  const { accessor, context } = member.fast;
  return accessor(resource).map((tv) => ({ v: tv.v, context }));
}

/** Appends the rows of every composite parameter of `resourceType` for `resource`. */
export function addCompositeRows(rows: IndexRows, resource: Obj, resourceType: string, useEngine: boolean): void {
  for (const composite of compositesOf(resourceType)) {
    const values: TypedValue[][] = new Array(composite.components.length);
    let n = 0;
    for (const member of composite.members) {
      if (!useEngine && member.bound && member.fast) {
        for (const item of member.fast.accessor(resource)) {
          if (collect(member.bound, item.v, resource, values) && addItem(rows, composite, values, n)) n++;
        }
        continue;
      }
      for (const item of itemsOf(member, resource, useEngine)) {
        const accessors = composite.components.map((c) => accessorFor(c, item.context, resourceType, useEngine));
        if (collect(accessors, item.v, resource, values) && addItem(rows, composite, values, n)) n++;
      }
    }
  }
}
