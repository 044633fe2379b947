// Preloaded (`node --require bench/thread-cpu.cjs`) by bench/ingest.ts and
// bench/ingest-pairs.ts into each
// `kiln import` it runs: at exit, writes one line to stderr with the CPU time (user +
// system, seconds, from /proc) of the main thread, of the whole process, and of V8's
// and libuv's helper threads (named "node"; garbage collection runs there). Linux only.
const { readdirSync, readFileSync, writeSync } = require('node:fs');
const { isMainThread } = require('node:worker_threads');

function cpu(stat) {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

if (isMainThread) {
  process.on('exit', () => {
    try {
      let helpers = 0;
      for (const tid of readdirSync('/proc/self/task')) {
        const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
        const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        if (tid !== String(process.pid) && name === 'node') helpers += cpu(stat);
      }
      const main = cpu(readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8'));
      const all = cpu(readFileSync('/proc/self/stat', 'utf8'));
      writeSync(2, `kiln-thread-cpu ${JSON.stringify({ main, all, helpers })}\n`);
    } catch {
      // Not Linux: the benchmark reports no CPU times.
    }
  });
}
