/**
 * Gives the event loop a turn now and then (https://nodejs.org/en/learn/asynchronous-work/event-loop-timers-and-nexttick).
 *
 * A bulk load's writes on SQLite are synchronous, and the promises around them resolve
 * without I/O, so a loop that only awaits them, or the messages of the preparing thread
 * (Node.js hands a MessagePort's queue over in one go while it keeps filling), may
 * never give the event loop a turn until it ends. Timers and signal handlers then wait
 * for it: `kiln import` did not see Ctrl-C, and a load's index deferral was not
 * renewed (search/deferred-indexes.ts). Such a loop awaits what this returns between
 * units of work: a turn once `everyMs` have passed since the last, else nothing.
 */
export function turnsEvery(everyMs: number): () => Promise<void> | undefined {
  let last = Date.now();
  return () => {
    if (Date.now() - last < everyMs) return undefined;
    return new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      last = Date.now();
    });
  };
}
