import { constants } from 'node:os';

/** A command's graceful stop on SIGINT (Ctrl-C) or SIGTERM (`stopOnSignals`). */
export interface Stopping {
  /** Aborted, with the signal's name as its reason, by the first signal. */
  signal: AbortSignal;
  /** The exit code after a graceful stop: 128 + the signal's number (130 for SIGINT, 143 for SIGTERM). */
  exitCode(): number;
  /** Stops listening (the command is done). */
  remove(): void;
}

/**
 * Turns SIGINT and SIGTERM into a graceful stop of a long command (`kiln import`, `kiln
 * seed`): the first aborts `signal` and prints `kiln COMMAND: SIGNAL: STOPPING; SIGNAL
 * again stops at once` on standard error (after `beforeMessage`, which clears a progress
 * line); a second exits at once with 128 + the signal's number, as the default action
 * would have (a killed load loses nothing it committed).
 *
 * The command's loop must give the event loop turns for the listener to run
 * (server/event-loop.ts).
 */
export function stopOnSignals(command: string, stopping: string, beforeMessage?: () => void): Stopping {
  const controller = new AbortController();
  const code = (signal: NodeJS.Signals) => 128 + constants.signals[signal];
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(code(signal));
    controller.abort(signal);
    beforeMessage?.();
    console.error(`kiln ${command}: ${signal}: ${stopping}; ${signal} again stops at once`);
  };
  const signals = ['SIGINT', 'SIGTERM'] as const;
  for (const s of signals) process.on(s, onSignal);
  return {
    signal: controller.signal,
    exitCode: () => code(controller.signal.reason as NodeJS.Signals),
    remove: () => signals.forEach((s) => process.off(s, onSignal)),
  };
}
