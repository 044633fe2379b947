import { expect } from '@jest/globals';
import { fhirFetch, type TestApp } from '../helpers/app.js';

/**
 * Shared helpers of the search suites: resources stored under known ids (update-as-create),
 * and searches that return the ids they matched.
 */

export type Res = { resourceType: string; id: string; [k: string]: unknown };

/** Stores each resource under its own id (PUT), failing the test on any error. */
export async function putAll(t: TestApp, resources: Res[]): Promise<void> {
  for (const r of resources) {
    const res = await fhirFetch(t, `${r.resourceType}/${r.id}`, { method: 'PUT', body: r });
    if (res.status !== 201 && res.status !== 200) throw new Error(`PUT ${r.resourceType}/${r.id}: ${res.status} ${res.text}`);
  }
}

interface Entry {
  fullUrl?: string;
  resource: { resourceType: string; id: string; [k: string]: unknown };
  search?: { mode: string };
}

/** GET a search; the body when it is 200, else the test fails with the outcome. */
export async function searchBundle(t: TestApp, query: string, headers: Record<string, string> = {}): Promise<{ entry?: Entry[]; link: { relation: string; url: string }[]; total?: number; [k: string]: unknown }> {
  const res = await fhirFetch(t, query, { headers });
  if (res.status !== 200) throw new Error(`GET ${query}: ${res.status} ${res.text}`);
  expect(res.body.resourceType).toBe('Bundle');
  expect(res.body.type).toBe('searchset');
  return res.body;
}

/** The sorted ids of the match entries of a search. */
export async function ids(t: TestApp, query: string, headers: Record<string, string> = {}): Promise<string[]> {
  const bundle = await searchBundle(t, query, headers);
  return matches(bundle).map((e) => e.resource.id).sort();
}

export function matches(bundle: { entry?: Entry[] }): Entry[] {
  return (bundle.entry ?? []).filter((e) => e.search?.mode === 'match');
}

export function included(bundle: { entry?: Entry[] }): Entry[] {
  return (bundle.entry ?? []).filter((e) => e.search?.mode === 'include');
}

/** Status and outcome of a search expected to fail. */
export async function failing(t: TestApp, query: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string; expression: string[] }> {
  const res = await fhirFetch(t, query, { headers });
  const issues = (res.body?.issue ?? []) as { expression?: string[] }[];
  return { status: res.status, text: res.text, expression: issues.flatMap((i) => i.expression ?? []) };
}

/** Follows `next` links from a first page, returning every page's bundle. */
export async function allPages(t: TestApp, first: string): Promise<{ entry?: Entry[]; link: { relation: string; url: string }[] }[]> {
  const pages = [await searchBundle(t, first)];
  for (;;) {
    const next = pages[pages.length - 1].link.find((l) => l.relation === 'next');
    if (!next) return pages;
    pages.push(await searchBundle(t, relative(t, next.url)));
    if (pages.length > 1000) throw new Error('runaway paging');
  }
}

/** A link URL relative to the base, as fhirFetch takes it (`Patient?…`, or `?…` for system search). */
export function relative(t: TestApp, url: string): string {
  expect(url.startsWith(t.base)).toBe(true);
  return url.slice(t.base.length).replace(/^\//, '');
}
