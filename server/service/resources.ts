import { randomUUID } from 'node:crypto';
import type { Database } from '../db/connect.js';
import type { Executor, NewVersion, ResourceStore, StoredVersion } from '../db/store.js';
import { inTransaction } from '../db/transaction.js';
import { gone, notFound, preconditionFailed } from '../errors.js';
import { deleteIndexRows, writeIndexRowsBatch } from '../search/write.js';
import { extractIndexRows } from '../search/extract.js';
import type { IndexRows } from '../search/types.js';
import { validateResource } from '../validate/index.js';
import { applyJsonPatch } from './patch.js';
import { recordProvenance } from './provenance.js';
import { type AnyResource, type ProvenanceRequest, WriteSession } from './types.js';

export interface UpdateResult {
  version: StoredVersion;
  created: boolean;
}

/**
 * The resource service: FHIR semantics (ids, versions, meta, deletes, patches,
 * Provenance, index rows) on top of the store. Callers validate what they send in;
 * the service validates only what it makes itself (a patched resource).
 *
 * See: https://hl7.org/fhir/R4/http.html
 */
export class ResourceService {
  constructor(
    readonly db: Database,
    readonly store: ResourceStore,
    private readonly opts: { autoProvenance: boolean },
  ) {}

  /** The current version; 404 when unknown, 410 when deleted. */
  async read(resourceType: string, id: string, db: Executor = this.db.knex): Promise<StoredVersion> {
    const v = await this.store.read(db, resourceType, id);
    if (!v) throw notFound(`${resourceType}/${id} is not known`);
    if (v.deleted) throw gone(`${resourceType}/${id} was deleted`);
    return v;
  }

  /** One version; 404 when unknown, 410 when that version is a deletion. */
  async vread(resourceType: string, id: string, versionId: string, db: Executor = this.db.knex): Promise<StoredVersion> {
    if (!/^[1-9]\d{0,9}$/.test(versionId)) throw notFound(`${resourceType}/${id} has no version "${versionId}"`);
    const v = await this.store.vread(db, resourceType, id, Number(versionId));
    if (!v) throw notFound(`${resourceType}/${id}/_history/${versionId} is not known`);
    if (v.deleted) throw gone(`${resourceType}/${id}/_history/${versionId} is a deletion`);
    return v;
  }

  /**
   * Runs `fn` in one transaction and records one Provenance naming everything it wrote,
   * in the same transaction: the writes, their index rows and the Provenance commit
   * together or not at all. Inside a transaction Bundle (`outer`), `fn` joins that
   * transaction and the Bundle records the Provenance.
   */
  async write<T>(provenance: ProvenanceRequest, fn: (s: WriteSession) => Promise<T>, outer?: WriteSession): Promise<T> {
    if (outer) return fn(outer);
    return inTransaction(this.db, async (trx) => {
      const session = new WriteSession(trx, new Date().toISOString());
      const result = await fn(session);
      await recordProvenance(this, session, provenance, this.opts.autoProvenance);
      return result;
    });
  }

  /** Creates a resource with a new server-assigned id (or `id`, for loads and update-as-create). */
  async create(s: WriteSession, resource: AnyResource, id: string = randomUUID()): Promise<StoredVersion> {
    const [v] = await this.put(s, [{ resource: { ...resource, id }, previous: undefined, method: 'POST' }]);
    return v;
  }

  /**
   * Update (PUT): a new version of an existing resource, or update-as-create with the
   * client's id. `ifMatch` is the version the client last saw (412 when it is not current).
   * See: https://hl7.org/fhir/R4/http.html#update
   */
  async update(s: WriteSession, resource: AnyResource, ifMatch?: number, ifNoneMatch?: IfNoneMatch): Promise<UpdateResult> {
    const type = resource.resourceType;
    const id = resource.id as string;
    const previous = await this.store.readForUpdate(s.trx, type, id);
    checkIfMatch(type, id, previous, ifMatch);
    checkIfNoneMatch(type, id, previous, ifNoneMatch);
    const [version] = await this.put(s, [{ resource, previous, method: 'PUT' }]);
    return { version, created: !previous || previous.deleted };
  }

  /**
   * JSON Patch (RFC 6902) applied to the current version, validated, then written.
   * See: https://hl7.org/fhir/R4/http.html#patch
   */
  async patch(s: WriteSession, type: string, id: string, ops: unknown, ifMatch?: number): Promise<StoredVersion> {
    const previous = await this.store.readForUpdate(s.trx, type, id);
    if (!previous) throw notFound(`${type}/${id} is not known`);
    if (previous.deleted) throw gone(`${type}/${id} was deleted`);
    checkIfMatch(type, id, previous, ifMatch);
    const patched = applyJsonPatch(JSON.parse(previous.content) as AnyResource, ops);
    validateResource(patched, { expectedType: type, expectedId: id, requireId: true });
    const [version] = await this.put(s, [{ resource: patched, previous, method: 'PATCH' }]);
    return version;
  }

  /**
   * Delete: a new version marked deleted; reads then answer 410. Deleting what is
   * unknown or already deleted changes nothing. `ifMatch`, the version the client last
   * saw, makes it a version-aware delete (412 when that is not the current version).
   * See: https://hl7.org/fhir/R4/http.html#delete and https://hl7.org/fhir/R4/http.html#concurrency
   */
  async delete(s: WriteSession, type: string, id: string, ifMatch?: number): Promise<StoredVersion | undefined> {
    const previous = await this.store.readForUpdate(s.trx, type, id);
    checkIfMatch(type, id, previous, ifMatch);
    if (!previous || previous.deleted) return undefined;
    const versionId = previous.versionId + 1;
    const content = JSON.stringify({ resourceType: type, id, meta: { versionId: String(versionId), lastUpdated: s.now } });
    const v: NewVersion = { resourceType: type, id, versionId, lastUpdated: s.now, deleted: true, content, method: 'DELETE' };
    const [rid] = await this.store.write(s.trx, [v]);
    await deleteIndexRows(s.trx, rid);
    s.targets.push(`${type}/${id}/_history/${versionId}`);
    return v;
  }

  /**
   * Writes new versions of many resources whose previous versions are known, stamping
   * `meta.versionId`/`meta.lastUpdated`, writing history, current row and index rows.
   */
  async put(
    s: WriteSession,
    items: { resource: AnyResource; previous: StoredVersion | undefined; method: NewVersion['method'] }[],
  ): Promise<NewVersion[]> {
    const staged = items.map(({ resource, previous, method }) => stageVersion(resource, (previous?.versionId ?? 0) + 1, s.now, method));
    const rids = await this.writeVersions(s, staged.map((x) => x.version));
    const index = (replace: boolean) =>
      staged.flatMap(({ version: v, rows }, i) => ((items[i].previous !== undefined) === replace ? [{ resourceType: v.resourceType, rid: rids[i], rows }] : []));
    // New resources have no rows to replace: skipping their deletes saves a statement each.
    await writeIndexRowsBatch(s.trx, index(false), { replace: false });
    await writeIndexRowsBatch(s.trx, index(true), { replace: true });
    return staged.map((x) => x.version);
  }

  /**
   * Writes versions without their index rows (the caller writes those, with the keys
   * this resolves to: see `store.write`; `kiln import` stages them on another thread).
   * They count towards the session's Provenance.
   */
  async writeVersions(s: WriteSession, versions: readonly NewVersion[]): Promise<number[]> {
    for (const v of versions) s.targets.push(`${v.resourceType}/${v.id}/_history/${v.versionId}`);
    return this.store.write(s.trx, versions);
  }
}

/** A version ready to write: its row (JSON text with meta stamped) and its search index rows. */
export interface StagedVersion {
  version: NewVersion;
  rows: IndexRows;
}

/**
 * Stamps `resource` as version `versionId` written at `now`, serialises it and extracts
 * its index rows: everything of a write that needs no database.
 */
export function stageVersion(resource: AnyResource, versionId: number, now: string, method: NewVersion['method']): StagedVersion {
  const stamped = stamp(resource, versionId, now);
  const version: NewVersion = {
    resourceType: resource.resourceType,
    id: resource.id as string,
    versionId,
    lastUpdated: now,
    deleted: false,
    content: JSON.stringify(stamped),
    method,
  };
  return { version, rows: extractIndexRows(stamped) };
}

/**
 * The same version renumbered as `versionId` (an import that finds the resource stored
 * already). Its index rows stay valid: they do not depend on the version number.
 */
export function renumber(v: NewVersion, versionId: number, method: NewVersion['method']): NewVersion {
  const content = JSON.stringify(stamp(JSON.parse(v.content) as AnyResource, versionId, v.lastUpdated));
  return { ...v, versionId, content, method };
}

/** Sets id and meta of a version about to be stored; the rest is kept as sent. */
function stamp(resource: AnyResource, versionId: number, now: string): AnyResource {
  const { resourceType, id, meta, ...rest } = resource;
  return { resourceType, id, meta: { ...meta, versionId: String(versionId), lastUpdated: now }, ...rest };
}

function checkIfMatch(type: string, id: string, current: StoredVersion | undefined, ifMatch?: number): void {
  if (ifMatch === undefined) return;
  if (!current || current.deleted) throw preconditionFailed(`If-Match: ${type}/${id} has no current version ${ifMatch}`);
  if (current.versionId !== ifMatch) {
    throw preconditionFailed(`If-Match: ${type}/${id} is at version ${current.versionId}, not ${ifMatch}`);
  }
}

/** `If-None-Match` on an update: `*` (only if there is no current version) or a version ETag. */
export type IfNoneMatch = '*' | number;

/**
 * `If-None-Match: *` makes an update create-only: 412 when the resource exists. With a
 * version, 412 when that is the current version. RFC 9110 section 13.1.2.
 */
function checkIfNoneMatch(type: string, id: string, current: StoredVersion | undefined, ifNoneMatch?: IfNoneMatch): void {
  if (ifNoneMatch === undefined || !current || current.deleted) return;
  if (ifNoneMatch === '*') throw preconditionFailed(`If-None-Match: *: ${type}/${id} exists (version ${current.versionId})`);
  if (current.versionId === ifNoneMatch) throw preconditionFailed(`If-None-Match: ${type}/${id} is at version ${ifNoneMatch}`);
}
