// Summarises the Node.js diagnostic reports (https://nodejs.org/api/report.html) that a
// hung CI run's processes wrote: for each process, its command line, the JavaScript it
// was running and the libuv handles it was waiting on (sockets, timers, files).
//
//   node .ci/reports.mjs DIR
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
const files = readdirSync(dir).filter((f) => f.startsWith('report.') && f.endsWith('.json'));
if (files.length === 0) console.log(`no diagnostic reports in ${dir}`);
for (const file of files) {
  const report = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  const { header, javascriptStack, libuv = [], workers = [] } = report;
  console.log(`\n=== pid ${header.processId}: ${header.commandLine.join(' ')}`);
  const stack = (javascriptStack?.stack ?? []).filter((l) => l && !l.includes('(internal'));
  console.log(`javascript: ${javascriptStack?.message || 'none running: waiting on the handles below'}`);
  for (const line of stack) console.log(`  ${line}`);
  // Handles that keep the process alive; unreferenced ones (Node's own) are only counted.
  const active = libuv.filter((h) => h.is_active && h.type !== 'loop');
  const waiting = active.filter((h) => h.is_referenced);
  console.log(`active handles: ${waiting.length} keeping it alive, ${active.length - waiting.length} more unreferenced`);
  for (const h of waiting) {
    const where = [h.localEndpoint, h.remoteEndpoint]
      .filter(Boolean)
      .map((e) => `${e.host ?? ''}:${e.port ?? ''}`)
      .join(' -> ');
    console.log(`  ${h.type}${where ? ` ${where}` : ''}${h.filename ? ` ${h.filename}` : ''}${h.repeat ? ` every ${h.repeat} ms` : ''}`);
  }
  if (workers.length > 0) console.log(`worker threads: ${workers.length}`);
}
