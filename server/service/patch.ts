import fastJsonPatch, { type Operation } from 'fast-json-patch';
import { badRequest, FhirError, unprocessable } from '../errors.js';
import type { AnyResource } from './types.js';

/**
 * JSON Patch for the FHIR `patch` interaction. fast-json-patch applies the operations,
 * but it trusts its input: given a pointer through a missing member it throws a
 * TypeError, and it follows inherited JavaScript properties (`toString`, `length`,
 * `constructor`) as if they were members. So every operation is first checked for form
 * (a 400 when the patch document is malformed) and then against the document as it
 * stands, walking the document's own members only (a 422 when the patch cannot be
 * applied to this resource). Whatever the library still throws is a 422 as well.
 *
 * See: https://hl7.org/fhir/R4/http.html#patch
 * See: https://www.rfc-editor.org/rfc/rfc6902 (JSON Patch)
 * See: https://www.rfc-editor.org/rfc/rfc6901 (JSON Pointer)
 */

type OpName = 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
const OPS = new Set<string>(['add', 'remove', 'replace', 'move', 'copy', 'test']);

/** One operation of a patch document, checked for form (RFC 6902 §4). */
interface PatchOperation {
  index: number;
  op: OpName;
  path: string;
  from?: string;
  value?: unknown;
}

/** The operation being applied, and the resource type its errors' expressions start from. */
interface Step {
  op: PatchOperation;
  type: string;
}

/** An array index per RFC 6901 §4: digits without a leading zero. */
const INDEX = /^(0|[1-9][0-9]*)$/;

/**
 * Applies a JSON Patch document to a resource and returns the patched copy; the resource
 * itself is not changed. 400 for a malformed patch document, 422 for one that cannot be
 * applied to this resource, fails a `test`, leaves something that is not a JSON object,
 * or changes `resourceType` or `id`. Each error names the operation (its index in the
 * patch) and its pointers.
 *
 * See: https://www.rfc-editor.org/rfc/rfc6902#section-5 (error handling)
 */
export function applyJsonPatch(resource: AnyResource, patch: unknown): AnyResource {
  if (!Array.isArray(patch)) throw badRequest('A JSON Patch document must be an array of operations');
  const ops = patch.map(parseOperation);
  let doc: unknown = fastJsonPatch.deepClone(resource);
  for (const op of ops) doc = applyOperation(doc, { op, type: resource.resourceType });
  return checkResult(resource, doc, ops);
}

/** RFC 6902 §4: an object with a known `op`, a `path`, and `from` or `value` as the op needs. */
function parseOperation(raw: unknown, index: number): PatchOperation {
  const at = `JSON Patch operation ${index}`;
  if (!isObject(raw)) throw badRequest(`${at} must be a JSON object with "op" and "path", not ${kind(raw)}`);
  if (typeof raw.op !== 'string' || !OPS.has(raw.op)) {
    throw badRequest(`${at}: "op" must be one of add, remove, replace, move, copy or test, not ${show(raw.op)}`);
  }
  const op = raw.op as OpName;
  const parsed: PatchOperation = { index, op, path: pointer(raw.path, `${at} (${op})`, 'path') };
  if (op === 'move' || op === 'copy') parsed.from = pointer(raw.from, `${at} (${op} to ${show(parsed.path)})`, 'from');
  if (op === 'add' || op === 'replace' || op === 'test') {
    if (!Object.hasOwn(raw, 'value')) throw badRequest(`${describe(parsed)}: "value" is missing`);
    parsed.value = raw.value;
  }
  return parsed;
}

/** A JSON Pointer (RFC 6901 §3): empty, or `/`-separated tokens where `~` only starts `~0` or `~1`. */
function pointer(value: unknown, at: string, member: 'path' | 'from'): string {
  if (typeof value !== 'string') throw badRequest(`${at}: "${member}" must be a string holding a JSON Pointer, not ${show(value)}`);
  if (value !== '' && (!value.startsWith('/') || /~(?![01])/.test(value))) {
    throw badRequest(`${at}: "${member}" is ${show(value)}, which is not a JSON Pointer (RFC 6901): it must be empty or start with "/", and each "~" must be followed by 0 or 1`);
  }
  return value;
}

/** Checks one operation against the document, then has fast-json-patch apply it. */
function applyOperation(doc: unknown, step: Step): unknown {
  const { op } = step;
  switch (op.op) {
    case 'add':
      checkAddTarget(doc, op.path, step);
      return run(doc, { op: 'add', path: op.path, value: op.value }, step);
    case 'remove':
    case 'replace':
    case 'test':
      valueAt(doc, op.path, step);
      return run(doc, { op: op.op, path: op.path, value: op.value } as Operation, step);
    case 'copy': {
      const value = valueAt(doc, op.from as string, step);
      checkAddTarget(doc, op.path, step);
      return run(doc, { op: 'add', path: op.path, value: fastJsonPatch.deepClone(value) }, step);
    }
    case 'move':
      return move(doc, op.from as string, step);
  }
}

/** RFC 6902 §4.4: a remove at `from`, then an add at `path` against what the remove left. */
function move(doc: unknown, from: string, step: Step): unknown {
  const { path } = step.op;
  if (path.startsWith(`${from}/`)) {
    throw failure(step, path, `${show(path)} is inside ${show(from)}, and a location cannot be moved into one of its own children`);
  }
  const value = valueAt(doc, from, step);
  const rest = run(doc, { op: 'remove', path: from }, step);
  checkAddTarget(rest, path, step);
  return run(rest, { op: 'add', path, value }, step);
}

/** RFC 6902 §4.1: the parent must exist; an array index may be at most the length, or `-`. */
function checkAddTarget(doc: unknown, path: string, step: Step): void {
  if (path === '') return;
  const cut = path.lastIndexOf('/');
  const parentPath = path.slice(0, cut);
  const parent = valueAt(doc, parentPath, step);
  const token = unescape(path.slice(cut + 1));
  if (Array.isArray(parent)) {
    if (token === '-' || (INDEX.test(token) && Number(token) <= parent.length)) return;
    throw failure(step, path, `${show(path)} cannot be added: ${where(parentPath)} is an array of ${elements(parent.length)}, so the index must be 0 to ${parent.length} or "-"`);
  }
  if (!isObject(parent)) throw failure(step, path, `${show(path)} cannot be added: ${where(parentPath)} is ${kind(parent)}, not an object or array`);
  if (token === '__proto__') throw failure(step, path, `${show(path)} cannot be added: "__proto__" is not a member name this server accepts`);
}

/** The value a pointer names (RFC 6901 §4), following the document's own members only. */
function valueAt(doc: unknown, path: string, step: Step): unknown {
  if (path === '') return doc;
  const raw = path.slice(1).split('/');
  let value = doc;
  for (let i = 0; i < raw.length; i++) {
    const parentPath = i === 0 ? '' : `/${raw.slice(0, i).join('/')}`;
    const reached = `/${raw.slice(0, i + 1).join('/')}`;
    const token = unescape(raw[i]);
    const missing = (why?: string): FhirError => failure(step, reached, `${show(reached)} does not exist in the resource${why ? `: ${why}` : ''}`);
    if (Array.isArray(value)) {
      if (!INDEX.test(token)) throw missing(`${where(parentPath)} is an array, and ${show(token)} is not an index into it`);
      if (Number(token) >= value.length) throw missing(`${where(parentPath)} is an array of ${elements(value.length)}`);
      value = value[Number(token)];
    } else if (isObject(value)) {
      if (!Object.hasOwn(value, token)) throw missing();
      value = value[token];
    } else {
      throw missing(`${where(parentPath)} is ${kind(value)}, not an object or array`);
    }
  }
  return value;
}

/** One checked operation through fast-json-patch; anything it throws is this operation's 422. */
function run(doc: unknown, operation: Operation, step: Step): unknown {
  try {
    return fastJsonPatch.applyOperation(doc, operation, false, true, true, step.op.index).newDocument;
  } catch (err) {
    if (err instanceof fastJsonPatch.JsonPatchError && err.name === 'TEST_OPERATION_FAILED') {
      throw failure(step, step.op.path, `JSON Patch test failed: the value at ${show(step.op.path)} is not ${show(step.op.value)}`);
    }
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw failure(step, step.op.path, `cannot be applied: ${reason}`);
  }
}

/** The patched document must still be a resource: a JSON object of the same type and id. */
function checkResult(original: AnyResource, doc: unknown, ops: PatchOperation[]): AnyResource {
  const type = original.resourceType;
  const last = (path: string): Step => ({ op: lastTouching(ops, path), type });
  if (!isObject(doc)) {
    throw failure(last(''), '', `the patched document is ${kind(doc)}, not a JSON object, so it cannot be a ${type}`);
  }
  if (doc.resourceType !== type) {
    throw failure(last('/resourceType'), '/resourceType', `JSON Patch may not change resourceType (${show(type)} would become ${show(doc.resourceType)})`, 'resourceType');
  }
  if (doc.id !== original.id) {
    throw failure(last('/id'), '/id', `JSON Patch may not change id (${show(original.id)} would become ${show(doc.id)})`);
  }
  return doc as AnyResource;
}

/** The last operation that wrote the root or the given top-level member. */
function lastTouching(ops: PatchOperation[], path: string): PatchOperation {
  const touches = (o: PatchOperation) => o.op !== 'test' && (o.path === '' || o.path === path || (o.op === 'move' && o.from === path));
  return [...ops].reverse().find(touches) ?? ops[ops.length - 1];
}

/** A 422 naming the operation, with the FHIRPath of the element the pointer reaches. */
function failure(step: Step, path: string, message: string, expression = fhirPath(step.type, path)): FhirError {
  return unprocessable(`${describe(step.op)}: ${message}`, expression);
}

function describe(op: PatchOperation): string {
  const what = op.from === undefined ? `${op.op} at ${show(op.path)}` : `${op.op} from ${show(op.from)} to ${show(op.path)}`;
  return `JSON Patch operation ${op.index} (${what})`;
}

/**
 * `/name/0/family` on a Patient is `Patient.name[0].family`. Stops at the first token
 * that is not an element name, and at a length no resource nests to, so that a huge
 * pointer cannot make a huge outcome.
 */
function fhirPath(type: string, path: string): string {
  let out = type;
  for (const token of path === '' ? [] : path.slice(1).split('/').map(unescape)) {
    if (out.length > 200) break;
    if (INDEX.test(token)) out += `[${token}]`;
    else if (/^[A-Za-z][A-Za-z0-9_]*$/.test(token)) out += `.${token}`;
    else break;
  }
  return out;
}

/** RFC 6901 §4: `~1` before `~0`, so that `~01` becomes `~1`. */
function unescape(token: string): string {
  return token.replace(/~1/g, '/').replace(/~0/g, '~');
}

function where(path: string): string {
  return path === '' ? 'the resource' : show(path);
}

function elements(n: number): string {
  return n === 1 ? '1 element' : `${n} elements`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function kind(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** A value quoted for a message, cut short so that a large value cannot flood the outcome. */
function show(value: unknown): string {
  const text = value === undefined ? 'nothing' : JSON.stringify(value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}
