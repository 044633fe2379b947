import type { Controller } from '../context.js';
import { badRequest } from '../errors.js';
import { checkEntryCount } from '../bundle/budget.js';
import { checkUniqueFullUrls } from '../bundle/invariants.js';
import { processBatch, processTransaction } from '../bundle/process.js';
import { validateResource } from '../validate/index.js';

/**
 * batch and transaction: `POST [base]` with a Bundle of type `batch` or `transaction`.
 * The Bundle is validated whole first, its invariants included, so a malformed entry
 * fails before anything runs; one with more entries than its response may hold
 * (`KILN_MAX_BUNDLE_RESULTS`) is refused before even that.
 * See: https://hl7.org/fhir/R4/http.html#transaction
 */
export const bundle: Controller = async (req, ctx) => {
  const entries = (req.body as { entry?: unknown } | undefined)?.entry;
  if (Array.isArray(entries)) checkEntryCount(entries.length, ctx.config.maxBundleResults);
  validateResource(req.body, { expectedType: 'Bundle' });
  const b = req.body as { type?: string; entry?: [] };
  if (b.type !== 'transaction' && b.type !== 'batch') {
    throw badRequest(`POST [base] takes a Bundle of type batch or transaction, not "${b.type}"`, 'Bundle.type', 'value');
  }
  checkUniqueFullUrls(b.entry ?? []);
  const body = b.type === 'transaction' ? await processTransaction(b, req, ctx) : await processBatch(b, req, ctx);
  return { status: 200, body };
};
