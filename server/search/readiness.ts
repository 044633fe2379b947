import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Database } from '../db/connect.js';
import { registryGeneration, searchableResourceTypes, searchParamsFor, type SearchParamDef, type SearchParamType } from './registry.js';
import { readEpoch, readStatusRows } from './readiness-table.js';
import { COLUMN_PARAMS } from './types.js';

/**
 * Which search parameters this process may answer from the index: those whose rows in
 * the database were built by the definition this process has (same fingerprint) and are
 * complete. A parameter whose definition changed (a package upgrade, a custom
 * SearchParameter) is refused until `kiln reindex` has rebuilt its rows, rather than
 * answered from half of them (https://hl7.org/fhir/R4/search.html#errors).
 *
 * Every process reads the state from the database, so one `kiln reindex` serves all
 * `kiln serve` processes of a database. A process polls one number (the epoch) every
 * {@link POLL_MS} and reloads the table only when it moved: a change made elsewhere is
 * seen here within about a second, and no search waits on the database for it.
 */

/**
 * Version of the index row format of each type of parameter, part of its fingerprint.
 * Raise one when a change to extraction or normalisation changes the rows that existing
 * definitions of that type produce (or starts producing rows for it): every parameter of
 * that type, on the resource types that hold resources, then waits for `kiln reindex`.
 */
export const INDEX_FORMAT: Readonly<Record<SearchParamType, number>> = {
  number: 1,
  date: 1,
  string: 1,
  token: 1,
  reference: 1,
  // 2: composites have rows of their own (composite.ts); before, they had none.
  composite: 2,
  quantity: 1,
  uri: 1,
  special: 1,
};

/**
 * The formats of the index written before `search_param_status` existed. A database
 * that meets the table for the first time is recorded as built by these: a parameter
 * type whose format has moved on since then waits for `kiln reindex`. Never change it.
 */
export const BASELINE_FORMAT: Readonly<Record<SearchParamType, number>> = { ...INDEX_FORMAT, composite: 1 };

/** How often a process looks for readiness changes made by other processes. */
export const POLL_MS = 1000;

/** True when `def` is answered from index rows that a definition change makes stale (`_id` and `_lastUpdated`, columns, are always ready). */
export function isTracked(def: SearchParamDef): boolean {
  return def.expression !== undefined && !COLUMN_PARAMS.has(def.code) && def.unionOf === undefined;
}

/**
 * What the index rows of `def` depend on: its type and expression for this resource type,
 * and its components'. Targets, modifiers and comparators only matter to queries.
 */
export function fingerprint(def: SearchParamDef, formats: Readonly<Record<SearchParamType, number>> = INDEX_FORMAT): string {
  const basis = {
    format: formats[def.type],
    type: def.type,
    expression: def.expression,
    component: def.component?.map((c) => ({ definition: c.definition, type: c.type, expression: c.expression })),
  };
  return createHash('sha256').update(JSON.stringify(basis)).digest('hex');
}

let fingerprints: { generation: number; byType: Map<string, Map<string, string>> } | undefined;

/** The fingerprint of every tracked parameter by resource type and code, in the given (default: current) formats. */
export function trackedFingerprints(formats = INDEX_FORMAT): Map<string, Map<string, string>> {
  const current = formats === INDEX_FORMAT;
  if (current && fingerprints?.generation === registryGeneration()) return fingerprints.byType;
  const byType = new Map<string, Map<string, string>>();
  for (const type of searchableResourceTypes()) {
    const codes = new Map<string, string>();
    for (const def of searchParamsFor(type)) if (isTracked(def)) codes.set(def.code, fingerprint(def, formats));
    byType.set(type, codes);
  }
  if (current) fingerprints = { generation: registryGeneration(), byType };
  return byType;
}

let unions: { generation: number; defs: SearchParamDef[] } | undefined;

/** The parameters, of every type, that are unions of others; found once per registry. */
function unionParams(): SearchParamDef[] {
  if (unions?.generation !== registryGeneration()) {
    unions = { generation: registryGeneration(), defs: searchableResourceTypes().flatMap((t) => searchParamsFor(t).filter((d) => d.unionOf)) };
  }
  return unions.defs;
}

/** Not-ready parameters, both ways round. */
interface Snapshot {
  /** Changes whenever the set changes, for caches built on it. */
  version: number;
  byType: Map<string, Set<string>>;
  byCode: Map<string, Set<string>>;
}

let versions = 0;
const ALL_READY: Snapshot = { version: 0, byType: new Map(), byCode: new Map() };

/** The trackers of the apps open in this process; the newest one is in force. */
const trackers: ReadinessTracker[] = [];

function current(): Snapshot {
  return trackers.length > 0 ? trackers[trackers.length - 1].snapshot : ALL_READY;
}

/** True when `code` of `type` may be answered from the index. */
export function isReady(type: string, code: string): boolean {
  const snap = current();
  return snap.byType.size === 0 || !snap.byType.get(type)?.has(code);
}

/** The types on which `code` is not ready (empty when it is ready everywhere). */
export function notReadyTypes(code: string): ReadonlySet<string> {
  return current().byCode.get(code) ?? new Set();
}

/** Every not-ready parameter: codes by resource type. */
export function notReadyParams(): ReadonlyMap<string, ReadonlySet<string>> {
  return current().byType;
}

/** True when some parameter is not ready: the query-side checks are skipped otherwise. */
export function anyNotReady(): boolean {
  return current().byType.size > 0;
}

/** Changes whenever the readiness in force changes (for the CapabilityStatement cache). */
export function readinessVersion(): number {
  return current().version;
}

/** The not-ready parameters from the status rows, for this process's definitions. */
function snapshotOf(rows: { resource_type: string; code: string; fingerprint: string; state: string }[]): Snapshot {
  const ready = new Set(rows.filter((r) => r.state === 'ready').map((r) => `${r.resource_type}\u0000${r.code}\u0000${r.fingerprint}`));
  const byType = new Map<string, Set<string>>();
  const byCode = new Map<string, Set<string>>();
  for (const [type, codes] of trackedFingerprints()) {
    for (const [code, fp] of codes) {
      if (ready.has(`${type}\u0000${code}\u0000${fp}`)) continue;
      byType.set(type, (byType.get(type) ?? new Set()).add(code));
      byCode.set(code, (byCode.get(code) ?? new Set()).add(type));
    }
  }
  // A union of other parameters (union-params.ts) is ready when all of them are.
  for (const def of unionParams()) {
    const type = def.resourceType;
    if (!def.unionOf!.some((code) => byType.get(type)?.has(code))) continue;
    byType.get(type)!.add(def.code);
    byCode.set(def.code, (byCode.get(def.code) ?? new Set()).add(type));
  }
  return { version: ++versions, byType, byCode };
}

/**
 * Keeps this process's view of readiness up to date for one database: reloads the status
 * table when the epoch moved (or the definitions changed), polling every {@link POLL_MS}.
 */
export class ReadinessTracker {
  snapshot: Snapshot = ALL_READY;
  private seen: { epoch: number; generation: number } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;

  constructor(
    private readonly db: Database,
    private readonly log?: Logger,
  ) {}

  /** Reloads when something changed since the last look; concurrent calls share one look. */
  refresh(): Promise<void> {
    this.inFlight ??= this.look().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  /** Loads the state now, puts this tracker in force and polls until `stop`. */
  async start(): Promise<void> {
    await this.refresh();
    trackers.push(this);
    this.timer = setInterval(() => {
      this.refresh().catch((err: unknown) => this.log?.warn({ err }, 'reading search parameter readiness failed'));
    }, POLL_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    const i = trackers.indexOf(this);
    if (i >= 0) trackers.splice(i, 1);
  }

  private async look(): Promise<void> {
    const epoch = await readEpoch(this.db);
    const generation = registryGeneration();
    if (this.seen?.epoch === epoch && this.seen.generation === generation) return;
    const rows = await readStatusRows(this.db.knex);
    const next = snapshotOf(rows);
    const before = this.snapshot;
    if (sameSets(before.byType, next.byType)) next.version = before.version;
    this.snapshot = next;
    this.seen = { epoch, generation };
  }
}

function sameSets(a: Map<string, Set<string>>, b: Map<string, Set<string>>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, set] of a) {
    const other = b.get(k);
    if (!other || other.size !== set.size) return false;
    for (const v of set) if (!other.has(v)) return false;
  }
  return true;
}
