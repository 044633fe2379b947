import type { AnyResource } from '../service/types.js';
import { bundleEntries, lineEntry } from './entries.js';
import { readLines, readWhole } from './files.js';
import type { ImportEntry, ImportFile } from './types.js';

/**
 * The first pass of an import: what every file holds, without keeping any resource.
 * References may point into files loaded later (Synthea's patient bundles point at the
 * Organizations and Practitioners of its `hospitalInformation*` and
 * `practitionerInformation*` bundles by `urn:uuid:`), so before loading anything the
 * import learns, for the whole import:
 * - fullUrl → `Type/id`, to rewrite `urn:uuid:` and absolute references;
 * - identifiers → ids, to resolve conditional references `Type?identifier=system|value`;
 * - where each resource occurs last, since the same resource may appear in several files.
 *
 * See: https://hl7.org/fhir/R4/bundle.html#references
 */
export class ImportIndex {
  private readonly urls: Map<string, string>;
  /**
   * `Type|system|value` → id, or the set of ids when several resources share it (Synthea
   * gives all its ExplanationOfBenefits one claim-group identifier): one string for the
   * common case keeps a map of this size small.
   */
  private readonly bySystem: Map<string, string | Set<string>>;
  /** `Type|value` → ids, for `identifier=value` (any system). */
  private readonly byValue: Map<string, string | Set<string>>;
  private readonly lastSeen: Map<string, number>;
  /** id → `Type/id` of the entries with that id; '' when entries of several types share it. */
  private readonly ids: Map<string, string>;
  /** Resources found, for the progress ETA. */
  resources: number;

  /** An empty index, or the one whose `data()` this is (passed to another thread). */
  constructor(data?: ImportIndexData) {
    this.urls = data?.urls ?? new Map();
    this.bySystem = data?.bySystem ?? new Map();
    this.byValue = data?.byValue ?? new Map();
    this.lastSeen = data?.lastSeen ?? new Map();
    this.ids = data?.ids ?? new Map();
    this.resources = data?.resources ?? 0;
  }

  /** The index as plain maps, which a worker thread's message carries as they are. */
  data(): ImportIndexData {
    const { urls, bySystem, byValue, lastSeen, ids, resources } = this;
    return { urls, bySystem, byValue, lastSeen, ids, resources };
  }

  /** Records one entry. */
  add(entry: ImportEntry): void {
    const { resourceType: type, id } = entry.resource;
    const key = `${type}/${id}`;
    this.resources++;
    // One fullUrl naming two resources cannot be resolved; '' marks it so.
    if (entry.fullUrl !== undefined) claim(this.urls, entry.fullUrl, key);
    for (const { system, value } of identifiersOf(entry.resource)) {
      addId(this.bySystem, `${type}|${system ?? ''}|${value}`, id as string);
      addId(this.byValue, `${type}|${value}`, id as string);
    }
    latest(this.lastSeen, key, entry.ordinal);
    claim(this.ids, id as string, key);
  }

  /**
   * Adds what another index of the same import recorded (the first pass is shared between
   * two threads, see pipeline.ts), as if its entries had been added here.
   */
  merge(other: ImportIndexData): void {
    for (const [url, key] of other.urls) claim(this.urls, url, key);
    for (const [from, into] of [
      [other.bySystem, this.bySystem],
      [other.byValue, this.byValue],
    ]) {
      for (const [key, ids] of from) for (const id of typeof ids === 'string' ? [ids] : ids) addId(into, key, id);
    }
    for (const [key, ordinal] of other.lastSeen) latest(this.lastSeen, key, ordinal);
    for (const [id, key] of other.ids) claim(this.ids, id, key);
    this.resources += other.resources;
  }

  /** `Type/id` of the entry whose fullUrl is `url`; '' when several entries claim it. */
  target(url: string): string | undefined {
    return this.urls.get(url);
  }

  /**
   * `Type/id` of the entries whose id is `id`, whatever their fullUrl; '' when entries of
   * several types have it. A `urn:uuid:` that is no entry's fullUrl may name one of them.
   */
  byId(id: string): string | undefined {
    return this.ids.get(id);
  }

  /** Ids of the resources of `type` with this identifier; `system` undefined matches any system. */
  byIdentifier(type: string, system: string | undefined, value: string): string[] {
    const ids = system === undefined ? this.byValue.get(`${type}|${value}`) : this.bySystem.get(`${type}|${system}|${value}`);
    return ids === undefined ? [] : typeof ids === 'string' ? [ids] : [...ids];
  }

  /** True when a later entry of this import holds the same resource. */
  supersededLater(entry: ImportEntry): boolean {
    const last = this.lastSeen.get(`${entry.resource.resourceType}/${entry.resource.id}`);
    return last !== undefined && last > entry.ordinal;
  }
}

/** What `ImportIndex.data()` gives, and its constructor takes. */
export interface ImportIndexData {
  urls: Map<string, string>;
  bySystem: Map<string, string | Set<string>>;
  byValue: Map<string, string | Set<string>>;
  lastSeen: Map<string, number>;
  ids: Map<string, string>;
  resources: number;
}

/** Records that `key` names `value`; '' once it has named two different values (or `value` is ''). */
function claim(map: Map<string, string>, key: string, value: string): void {
  const known = map.get(key);
  map.set(key, known === undefined || known === value ? value : '');
}

/** Keeps the greatest ordinal seen for `key`. */
function latest(map: Map<string, number>, key: string, ordinal: number): void {
  const last = map.get(key);
  if (last === undefined || last < ordinal) map.set(key, ordinal);
}

function addId(map: Map<string, string | Set<string>>, key: string, id: string): void {
  const known = map.get(key);
  if (known === undefined) map.set(key, id);
  else if (typeof known !== 'string') known.add(id);
  else if (known !== id) map.set(key, new Set([known, id]));
}

/** Resource.identifier: a list on most types, a single Identifier on a few (e.g. Bundle). */
function identifiersOf(resource: AnyResource): { system?: string; value: string }[] {
  const raw = resource.identifier;
  const list = Array.isArray(raw) ? raw : raw ? [raw] : [];
  const out: { system?: string; value: string }[] = [];
  for (const i of list as { system?: unknown; value?: unknown }[]) {
    if (typeof i?.value !== 'string') continue;
    out.push({ system: typeof i.system === 'string' ? i.system : undefined, value: i.value });
  }
  return out;
}

/**
 * Reads every file once, one at a time, and records its entries. A file or line that
 * cannot be read is skipped here: the second pass meets the same problem and reports it
 * with the file that has it.
 */
export async function scanFiles(files: ImportFile[], onFile?: (done: number) => void): Promise<ImportIndex> {
  const index = new ImportIndex();
  for (const file of files) {
    try {
      if (file.format === 'bundle') {
        for (const e of bundleEntries(await readWhole(file), file)) index.add(e);
      } else {
        await scanLines(file, index);
      }
    } catch {
      // Reported by the load pass, which fails this file for the same reason.
    }
    onFile?.(file.index + 1);
  }
  return index;
}

async function scanLines(file: ImportFile, index: ImportIndex): Promise<void> {
  let lineNo = 0;
  for await (const line of readLines(file)) {
    lineNo++;
    if (line.trim() === '') continue;
    try {
      index.add(lineEntry(line, lineNo, file));
    } catch {
      // As above: the load pass reports the line.
    }
  }
}
