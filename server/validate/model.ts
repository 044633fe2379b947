import { expandValueSets } from './bindings.js';
import { definitions, type Definitions, type ElementInfo, type TypeRef } from './definitions.js';
import { compilePrimitive, type PrimitiveType } from './primitives.js';
import { prebuilt } from './prebuilt.js';

/**
 * Compiled validation models: for every complex type, resource type and backbone element,
 * the JSON properties it may carry (choice elements expanded to `valueString`,
 * `valueQuantity`…), how each is represented (array or single, primitive, complex, resource)
 * and which are required. Built on first use from the definitions and cached.
 *
 * See: https://hl7.org/fhir/R4/json.html and https://hl7.org/fhir/R4/formats.html#choice
 */

/** One JSON property of a type. */
export interface ElementModel {
  /** The JSON property name (`birthDate`, `valueQuantity`). */
  readonly name: string;
  /** Whether the JSON value is an array (base cardinality max > 1). */
  readonly array: boolean;
  /** Maximum number of repetitions (`Infinity` for `*`). */
  readonly max: number;
  /** Set for primitive elements. */
  readonly primitive?: PrimitiveType;
  /** For primitives that may carry a `_name` sibling: the model of that object (`id`, `extension`). */
  readonly ext?: TypeModel;
  /** Set for complex and backbone elements. */
  readonly type?: TypeModel;
  /** True for elements of type `Resource` (contained resources, `Bundle.entry.resource`…). */
  readonly resource: boolean;
  /** For choice elements, the name without `[x]` (`value`). */
  readonly choice?: string;
  /** Allowed codes of a `required` binding, when the ValueSet could be expanded. */
  readonly codes?: ReadonlySet<string>;
  /** True for `Reference.reference`, which may not be a conditional reference outside a transaction. */
  readonly referenceString: boolean;
}

/** A required element (min >= 1): present when any of `names` is. */
export interface RequiredRule {
  /** Name used in the expression and message (`status`, `value` for `value[x]`). */
  readonly label: string;
  readonly names: readonly string[];
}

/** The compiled model of a complex type, resource or backbone element. */
export interface TypeModel {
  /** For messages: `Patient`, `HumanName`, `Patient.contact`, `date (primitive extensions)`. */
  readonly name: string;
  readonly elements: Map<string, ElementModel>;
  readonly required: RequiredRule[];
}

interface State {
  readonly defs: Definitions;
  readonly tables: Map<string, Map<string, ElementInfo>>;
  readonly models: Map<string, TypeModel>;
  readonly primitives: Map<string, PrimitiveType>;
  readonly codeSets: Map<string, ReadonlySet<string>>;
}

let state: State | undefined;

/** The ValueSets of the `required` bindings of `code` elements, whose codes the validator checks. */
export function requiredCodeValueSets(defs: Definitions): Set<string> {
  const urls = new Set<string>();
  for (const t of defs.types.values()) {
    for (const e of t.elements) {
      if (e.requiredValueSet && e.types?.some((r) => r.code === 'code')) urls.add(e.requiredValueSet);
    }
  }
  return urls;
}

function getState(): State {
  if (state) return state;
  const defs = definitions();
  const codeSets = prebuilt()?.codeSets ?? expandValueSets(requiredCodeValueSets(defs));
  state = { defs, tables: new Map(), models: new Map(), primitives: new Map(), codeSets };
  return state;
}

/**
 * Loads what validation needs before the first resource: the definitions and the code
 * sets of the required bindings (the models are still compiled per type on first use).
 */
export function loadModel(): void {
  getState();
}

function merge(base: ElementInfo | undefined, own: ElementInfo): ElementInfo {
  if (!base) return own;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(own)) if (v !== undefined) out[k] = v;
  return out as unknown as ElementInfo;
}

/** All elements of a type by relative path: the base type's, overlaid with its own differential. */
function table(s: State, typeName: string): Map<string, ElementInfo> {
  const hit = s.tables.get(typeName);
  if (hit) return hit;
  const t = s.defs.types.get(typeName);
  if (!t) throw new Error(`No definition for type ${typeName}`);
  const out = new Map(t.base ? table(s, t.base) : []);
  for (const e of t.elements) if (e.rel !== '') out.set(e.rel, merge(out.get(e.rel), e));
  s.tables.set(typeName, out);
  return out;
}

/** The direct children of `parent` (relative path, `''` for the root) in a table. */
function childrenOf(tbl: Map<string, ElementInfo>, parent: string): ElementInfo[] {
  const prefix = parent === '' ? '' : `${parent}.`;
  const out: ElementInfo[] = [];
  for (const [rel, e] of tbl) {
    if (rel.startsWith(prefix) && !rel.includes('.', prefix.length)) out.push(e);
  }
  return out;
}

function primitive(s: State, name: string): PrimitiveType {
  let p = s.primitives.get(name);
  if (!p) s.primitives.set(name, (p = compilePrimitive(s.defs, name)));
  return p;
}

/** The model of a `_name` sibling: the primitive type's elements other than `value`. */
function primitiveExtModel(s: State, name: string): TypeModel | undefined {
  const key = `_${name}`;
  const hit = s.models.get(key);
  if (hit) return hit.elements.has('extension') ? hit : undefined;
  const model = newModel(s, key, `${name} (primitive extensions)`);
  const elements = childrenOf(table(s, name), '').filter((e) => e.rel !== 'value');
  fillModel(s, model, name, elements);
  return model.elements.has('extension') ? model : undefined;
}

function newModel(s: State, key: string, name = key): TypeModel {
  const model: TypeModel = { name, elements: new Map(), required: [] };
  s.models.set(key, model);
  return model;
}

/** The model of a complex type or resource type, compiled on first use. */
export function typeModel(name: string): TypeModel | undefined {
  const s = getState();
  const hit = s.models.get(name);
  if (hit) return hit;
  const t = s.defs.types.get(name);
  if (!t || t.kind === 'primitive-type') return undefined;
  const model = newModel(s, name);
  fillModel(s, model, name, childrenOf(table(s, name), ''));
  return model;
}

/** The model of a backbone element (or a `contentReference` to one) at `rel` inside `owner`. */
function backboneModel(s: State, owner: string, rel: string, baseType: string): TypeModel {
  const key = `${owner}.${rel}`;
  const hit = s.models.get(key);
  if (hit) return hit;
  const model = newModel(s, key);
  const own = childrenOf(table(s, owner), rel);
  const inherited = childrenOf(table(s, baseType), '').filter((b) => !own.some((o) => o.rel.endsWith(`.${b.rel}`)));
  fillModel(s, model, owner, [...inherited, ...own]);
  return model;
}

function fillModel(s: State, model: TypeModel, owner: string, elements: readonly ElementInfo[]): void {
  for (const e of elements) {
    if (e.max === '0') continue;
    const name = e.rel.slice(e.rel.lastIndexOf('.') + 1);
    const choice = name.endsWith('[x]') ? name.slice(0, -3) : undefined;
    const variants: ElementModel[] = [];
    if (e.contentRef !== undefined) {
      variants.push(elementModel(e, name, undefined, { type: backboneModelFor(s, owner, e.contentRef) }));
    } else {
      for (const ref of e.types ?? []) variants.push(variant(s, owner, e, name, choice, ref));
    }
    for (const v of variants) model.elements.set(v.name, v);
    if ((e.min ?? 0) > 0) model.required.push(requiredRule(choice ?? name, variants));
  }
}

function backboneModelFor(s: State, owner: string, rel: string): TypeModel {
  const target = table(s, owner).get(rel);
  const base = target?.types?.[0]?.code === 'Element' ? 'Element' : 'BackboneElement';
  return backboneModel(s, owner, rel, base);
}

function requiredRule(label: string, variants: readonly ElementModel[]): RequiredRule {
  const names: string[] = [];
  for (const v of variants) {
    names.push(v.name);
    if (v.ext) names.push(`_${v.name}`);
  }
  return { label, names };
}

function variant(s: State, owner: string, e: ElementInfo, name: string, choice: string | undefined, ref: TypeRef): ElementModel {
  const jsonName = choice === undefined ? name : choice + ref.code[0].toUpperCase() + ref.code.slice(1);
  if (ref.code === 'BackboneElement' || ref.code === 'Element') {
    return elementModel(e, jsonName, choice, { type: backboneModel(s, owner, e.rel, ref.code) });
  }
  if (ref.code === 'Resource') return elementModel(e, jsonName, choice, { resource: true });
  const t = s.defs.types.get(ref.code);
  if (t?.kind !== 'primitive-type') return elementModel(e, jsonName, choice, { type: typeModel(ref.code) });
  // Resource.id is declared as a System.String; its lexical space is that of `id`.
  const isResourceId = e.rel === 'id' && s.defs.types.get(owner)?.kind === 'resource';
  const prim = primitive(s, isResourceId ? 'id' : ref.code);
  const codes = ref.code === 'code' && e.requiredValueSet ? s.codeSets.get(e.requiredValueSet) : undefined;
  const ext = ref.system === undefined ? primitiveExtModel(s, ref.code) : undefined;
  return elementModel(e, jsonName, choice, { primitive: prim, ext, codes, referenceString: owner === 'Reference' && e.rel === 'reference' });
}

type Parts = Partial<Pick<ElementModel, 'type' | 'primitive' | 'ext' | 'codes' | 'resource' | 'referenceString'>>;

/** Builds an element model; every model gets the same fields, in the same order, for fast access. */
function elementModel(e: ElementInfo, name: string, choice: string | undefined, parts: Parts): ElementModel {
  const max = e.max === undefined || e.max === '*' ? Infinity : Number(e.max);
  return {
    name,
    array: max > 1,
    max,
    primitive: parts.primitive,
    ext: parts.ext,
    type: parts.type,
    resource: parts.resource ?? false,
    choice,
    codes: parts.codes,
    referenceString: parts.referenceString ?? false,
  };
}

/** Concrete R4 resource type names. */
export function resourceTypeNames(): readonly string[] {
  return definitions().resourceTypes;
}

let resourceTypeSet: ReadonlySet<string> | undefined;

/** True if `name` is a concrete R4 resource type. */
export function isResourceTypeName(name: string): boolean {
  resourceTypeSet ??= new Set(definitions().resourceTypes);
  return resourceTypeSet.has(name);
}
