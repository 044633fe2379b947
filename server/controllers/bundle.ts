import type { Controller } from '../context.js';
import { badRequest } from '../errors.js';
import { processBatch, processTransaction } from '../bundle/process.js';
import { validateResource } from '../validate/index.js';

/**
 * batch and transaction: `POST [base]` with a Bundle of type `batch` or `transaction`.
 * The Bundle is validated whole first, so a malformed entry fails before anything runs.
 * See: https://hl7.org/fhir/R4/http.html#transaction
 */
export const bundle: Controller = async (req, ctx) => {
  validateResource(req.body, { expectedType: 'Bundle' });
  const b = req.body as { type?: string; entry?: [] };
  if (b.type === 'transaction') return { status: 200, body: await processTransaction(b, req, ctx) };
  if (b.type === 'batch') return { status: 200, body: await processBatch(b, req, ctx) };
  throw badRequest(`POST [base] takes a Bundle of type batch or transaction, not "${b.type}"`, 'Bundle.type', 'value');
};
