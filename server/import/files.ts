import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip, gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { ImportUsageError, type FileFormat, type ImportFile } from './types.js';

/**
 * Finding and reading import files. Bundles are read whole (one file at a time; they
 * are a few MB at most), NDJSON is streamed line by line because a bulk data export
 * file may be far larger than memory.
 *
 * See: https://hl7.org/fhir/R4/nd-json.html and https://hl7.org/fhir/uv/bulkdata/
 */

const gunzipAsync = promisify(gunzip);
/** zlib's default 16 KB output chunks make gunzipping a Synthea file twice as slow as 1 MB ones. */
const GUNZIP_CHUNK = 1024 * 1024;

/** The file names `kiln import` reads; a folder's other files are not import files and are skipped. */
const SUFFIXES: { suffix: string; format: FileFormat; gzip: boolean }[] = [
  { suffix: '.ndjson.gz', format: 'ndjson', gzip: true },
  { suffix: '.ndjson', format: 'ndjson', gzip: false },
  { suffix: '.json.gz', format: 'bundle', gzip: true },
  { suffix: '.json', format: 'bundle', gzip: false },
];

/** The format of a file, from its name; undefined when it is not an import file. */
export function formatOf(path: string): { format: FileFormat; gzip: boolean } | undefined {
  const lower = path.toLowerCase();
  const match = SUFFIXES.find((s) => lower.endsWith(s.suffix));
  return match && { format: match.format, gzip: match.gzip };
}

/**
 * The files named by `paths`, in load order: each path in the order given, a folder's
 * files (recursively, hidden ones skipped) sorted by name so every run loads them in
 * the same order. A path named twice is loaded once.
 */
export async function listImportFiles(paths: string[]): Promise<ImportFile[]> {
  const found: string[] = [];
  for (const path of paths) {
    const info = await stat(path).catch(() => undefined);
    if (!info) throw new ImportUsageError(`no such file or folder: ${path}`);
    if (info.isDirectory()) found.push(...(await walk(path)));
    else if (formatOf(path)) found.push(path);
    else throw new ImportUsageError(`${path} is not an import file (.json, .json.gz, .ndjson, .ndjson.gz)`);
  }
  const unique = [...new Set(found)];
  return unique.map((path, index) => ({ path, index, ...(formatOf(path) as { format: FileFormat; gzip: boolean }) }));
}

async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const out: string[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const path = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(path)));
    else if (e.isFile() && formatOf(e.name)) out.push(path);
  }
  return out;
}

/** A whole (Bundle) file as text, gunzipped when it is gzip-compressed. */
export async function readWhole(file: ImportFile): Promise<string> {
  const raw = await readFile(file.path);
  const bytes = file.gzip ? await gunzipAsync(raw, { chunkSize: GUNZIP_CHUNK }) : raw;
  return stripBom(bytes.toString('utf8'));
}

/**
 * Reads Bundle files one ahead: asked for a file, it also starts reading the next
 * Bundle of the list, so that its read and gunzip (on libuv's threads, off the main
 * thread) overlap the loading of this one. At most one file is held ahead.
 */
export class BundleReader {
  private readonly next = new Map<ImportFile, ImportFile>();
  private ahead?: { file: ImportFile; text: Promise<{ text: string } | { error: unknown }> };

  constructor(files: readonly ImportFile[]) {
    files.forEach((f, i) => {
      if (i + 1 < files.length) this.next.set(f, files[i + 1]);
    });
  }

  async read(file: ImportFile): Promise<string> {
    const pending = this.ahead?.file === file ? this.ahead.text : settle(readWhole(file));
    const next = this.next.get(file);
    this.ahead = next?.format === 'bundle' ? { file: next, text: settle(readWhole(next)) } : undefined;
    const result = await pending;
    if ('error' in result) throw result.error;
    return result.text;
  }
}

/** The outcome of `p` without rejecting (a read started ahead may never be awaited). */
function settle<T>(p: Promise<T>): Promise<{ text: T } | { error: unknown }> {
  return p.then(
    (text) => ({ text }),
    (error: unknown) => ({ error }),
  );
}

/**
 * The lines of an NDJSON file, streamed (gunzipped on the fly when compressed). Leaving
 * the loop early (a failing line) closes the file at once rather than when collected.
 */
export async function* readLines(file: ImportFile): AsyncGenerator<string> {
  const raw = createReadStream(file.path);
  const input = file.gzip ? raw.pipe(createGunzip({ chunkSize: 256 * 1024 })) : raw;
  // pipe() does not forward errors: a read error would otherwise never reach the loop.
  if (file.gzip) raw.on('error', (err) => input.destroy(err));
  const lines = createInterface({ input, crlfDelay: Infinity });
  try {
    yield* lines;
  } finally {
    lines.close();
    input.destroy();
    raw.destroy();
  }
}

function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}
