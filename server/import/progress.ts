import type { FileReport, ImportProgress, ImportSummary } from './importer.js';

/**
 * What `kiln import` prints: a progress line redrawn on a terminal, and lines meant to be
 * read by people and by scripts otherwise (one summary line, one line per failed file).
 */

/** Fewest milliseconds between two redraws: redrawing costs more than it tells. */
const REDRAW_MS = 100;

/** A progress line on a terminal: files (or another label), resources, resources per second and time left. */
export class ProgressLine {
  private last = 0;
  private shown = false;
  private text = '';

  constructor(private readonly out: NodeJS.WriteStream) {}

  scanning(done: number, total: number): void {
    if (done < total && !this.due()) return;
    this.draw(`reading ${done}/${total} files`);
  }

  update(p: ImportProgress): void {
    if (p.filesDone < p.filesTotal && !this.due()) return;
    this.draw(countText(`${p.filesDone}/${p.filesTotal} files`, p.resourcesDone, p.resourcesTotal, p.startedAt));
  }

  /** Resources done of a total, after `label` (`kiln reindex` shows the type it walks). */
  count(label: string, done: number, total: number, startedAt: number): void {
    if (done < total && !this.due()) return;
    this.draw(countText(label, done, total, startedAt));
  }

  /** A step without a count, shown after the last state (`… · building search indexes`). */
  note(text: string): void {
    const state = this.text;
    this.draw(`${state} · ${text}`);
    this.text = state;
  }

  /** Clears the line so other output starts on a clean one. */
  clear(): void {
    if (this.shown) this.out.write('\r\x1b[K');
    this.shown = false;
  }

  /** Leaves the last state on screen and moves below it. */
  finish(): void {
    if (this.shown) this.out.write('\n');
    this.shown = false;
  }

  private due(): boolean {
    return Date.now() - this.last >= REDRAW_MS;
  }

  private draw(text: string): void {
    this.last = Date.now();
    this.shown = true;
    this.text = text;
    this.out.write(`\r${text}\x1b[K`);
  }
}

/** `[####......] 40%  label  done/total resources  rate/s  ETA 12s` */
function countText(label: string, done: number, total: number, startedAt: number): string {
  const secs = (Date.now() - startedAt) / 1000;
  const rate = secs > 0 ? done / secs : 0;
  const left = Math.max(0, total - done);
  const eta = rate > 0 ? `ETA ${formatSeconds(left / rate)}` : 'ETA -';
  const pct = total > 0 ? Math.floor((100 * done) / total) : 100;
  return `${bar(pct)} ${pct}%  ${label}  ${done}/${total} resources  ${Math.round(rate)}/s  ${eta}`;
}

function bar(pct: number): string {
  const width = 20;
  const full = Math.round((pct / 100) * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}]`;
}

function formatSeconds(s: number): string {
  if (s < 60) return `${Math.ceil(s)}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${String(Math.ceil(s % 60)).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/**
 * `imported N resources from F files in S s (R/s); K failed`, then how many of them were
 * new versions, and, when NDJSON files were read, that those commit per chunk.
 */
export function summaryLine(s: ImportSummary): string {
  const rate = s.seconds > 0 ? Math.round(s.resources / s.seconds) : s.resources;
  const loaded = s.files.length - s.failed.length;
  let line = `imported ${s.resources} resources from ${loaded} files in ${s.seconds.toFixed(1)} s (${rate}/s); ${s.failed.length} failed`;
  line += `; ${s.written} new versions, ${s.resources - s.written} unchanged`;
  if (s.ndjsonChunk !== undefined) line += `; NDJSON files commit every ${s.ndjsonChunk} resources, not per file`;
  // A re-run loads the rest: resources keep their ids, so what is loaded is not loaded twice.
  if (s.interrupted) line += '; interrupted before the other files were read: run the same import again to load them';
  return line;
}

/** `failed FILE: entry N: PATH: reason`, and what of an NDJSON file stays loaded. */
export function failureLine(r: FileReport): string {
  const kept = r.resources > 0 ? ` (${r.resources} resources of it were committed before, in earlier chunks)` : '';
  return `failed ${r.file.path}: ${r.failure?.message ?? 'unknown error'}${kept}`;
}

/** `committed FILE N resources [(lines a-b)]`, printed by `--verbose` once the transaction has committed. */
export function committedLine(path: string, resources: number, lines?: string): string {
  return `committed ${path} ${resources} resources${lines ? ` (${lines})` : ''}`;
}
