import { ScopeError } from '../../smart/scopes/index.js';

/** The ScopeError thrown by `fn` (fails the test when none is thrown). */
export function scopeError(fn: () => unknown): ScopeError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ScopeError) return err;
    throw err;
  }
  throw new Error('expected a ScopeError');
}
