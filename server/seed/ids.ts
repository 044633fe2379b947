/**
 * Deterministic, collision-free resource ids.
 *
 * Ids look like random version-4 UUIDs but are built so that uniqueness is guaranteed
 * rather than merely likely: 64 of the 122 variable bits are a keyed permutation
 * (a Feistel network) of the pair (namespace, counter). Different pairs therefore
 * always give different ids, however many millions are generated.
 */
import { hashWords, mix32, type Rng } from './prng.js';

/** Namespace used for the shared batch (Organizations, Practitioners, …). */
export const SHARED_NAMESPACE = 0xffffffff;
/** Namespace used for the final Group batch. */
export const GROUP_NAMESPACE = 0xfffffffe;

/** Four-round Feistel permutation of the 64-bit value (left, right) under `key`. */
function feistel(left: number, right: number, key: number): [number, number] {
  let l = left >>> 0;
  let r = right >>> 0;
  for (let round = 0; round < 4; round++) {
    const f = mix32(r ^ hashWords(key, round));
    const next = (l ^ f) >>> 0;
    l = r;
    r = next;
  }
  return [l, r];
}

function hex(value: number, digits: number): string {
  return (value >>> 0).toString(16).padStart(8, '0').slice(8 - digits);
}

/**
 * Hands out ids for one namespace (one patient, or the shared batch).
 * The counter, not the order of random draws, decides the unique part, so ids stay
 * unique even if the surrounding generation logic changes.
 */
export class IdFactory {
  private counter = 0;

  /** `rng` supplies the decorative bits; `seed` keys the permutation; `namespace` separates batches. */
  constructor(
    private readonly rng: Rng,
    private readonly seed: number,
    private readonly namespace: number,
  ) {}

  /** The next UUID-shaped id of this namespace. */
  next(): string {
    const [hi, lo] = feistel(this.namespace, this.counter++, this.seed);
    const r1 = this.rng.next32();
    const r2 = this.rng.next32();
    return (
      `${hex(hi, 8)}-${hex(lo >>> 16, 4)}-4${hex(r1, 3)}-` +
      `${hex(8 | (r1 >>> 30), 1)}${hex(r1 >>> 12, 3)}-${hex(lo, 4)}${hex(r2, 8)}`
    );
  }
}
