import type { ResourceService } from './resources.js';
import type { AnyResource, WriteSession } from './types.js';

export interface LoadResult {
  written: number;
  unchanged: number;
}

/**
 * Loads resources that already carry their ids (an import or sample data): each becomes
 * a new version of `Type/id`, or stays as it is when its content is unchanged, so a
 * repeated load never duplicates anything and adds no versions. Callers validate first.
 */
export async function loadResources(service: ResourceService, s: WriteSession, resources: AnyResource[]): Promise<LoadResult> {
  const keys = resources.map((r) => ({ resourceType: r.resourceType, id: r.id as string }));
  const current = await service.store.readMany(s.trx, keys);
  const seen = new Map<string, AnyResource>();
  for (const r of resources) seen.set(`${r.resourceType}/${r.id}`, r);
  const items = [];
  let unchanged = 0;
  for (const [key, resource] of seen) {
    const previous = current.get(key);
    if (previous && !previous.deleted && sameContent(previous.content, resource)) {
      unchanged++;
      continue;
    }
    items.push({ resource, previous, method: previous ? ('PUT' as const) : ('POST' as const) });
  }
  await service.put(s, items);
  return { written: items.length, unchanged: unchanged + resources.length - seen.size };
}

/** True when a stored version holds the same resource, ignoring `meta.versionId`/`lastUpdated`. */
export function sameContent(stored: string, resource: AnyResource): boolean {
  return canonical(JSON.parse(stored) as AnyResource) === canonical(resource);
}

function canonical(r: AnyResource): string {
  const { resourceType, id, meta, ...rest } = r;
  const { versionId: _v, lastUpdated: _l, ...kept } = meta ?? {};
  return JSON.stringify({ resourceType, id, meta: Object.keys(kept).length ? kept : undefined, ...rest });
}
