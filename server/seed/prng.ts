/**
 * Seeded randomness for the synthetic data generator.
 *
 * The generator must be byte-for-byte reproducible and prefix-stable, so nothing here
 * touches `Math.random()` or the clock. Each patient gets its own stream derived from
 * `(seed, patientIndex)`; patient K therefore never depends on how many patients come
 * before or after it.
 */

/** One round of the splitmix32 finaliser: spreads nearby inputs (0, 1, 2, …) across all 32 bits. */
export function mix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** Hashes a list of 32-bit words into one, order-sensitive. */
export function hashWords(...words: number[]): number {
  let h = 0x2545f491;
  for (const w of words) h = mix32(h ^ mix32(w >>> 0));
  return h;
}

/**
 * A small pseudo-random generator (sfc32: 128-bit state, period ≥ 2^32).
 * A 128-bit state matters: with 100,000 patients, 32-bit generators such as mulberry32
 * would make two patients' streams overlap and repeat whole runs of values.
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** Seeds the four state words from independent hashes of the given words. */
  constructor(...words: number[]) {
    this.a = hashWords(1, ...words);
    this.b = hashWords(2, ...words);
    this.c = hashWords(3, ...words);
    this.d = hashWords(4, ...words) | 1;
    // The first outputs of sfc32 still carry seed structure; discard them.
    for (let i = 0; i < 12; i++) this.next32();
  }

  /** Next unsigned 32-bit integer. */
  next32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform float in [0, 1). */
  next(): number {
    return this.next32() / 4294967296;
  }

  /** Uniform integer in [min, max], both inclusive. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** Uniform float in [min, max). */
  float(min: number, max: number): number {
    return min + this.next() * (max - min);
  }

  /** Approximately normal value (sum of uniforms: cheap, bounded, good enough for vitals). */
  normal(mean: number, sd: number): number {
    const s = this.next() + this.next() + this.next() + this.next() - 2;
    return mean + s * sd * 1.732;
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }

  /** Up to n distinct elements of a list, in list order (so the result is stable). */
  sample<T>(items: readonly T[], n: number): T[] {
    const chosen = new Set<number>();
    const want = Math.min(n, items.length);
    while (chosen.size < want) chosen.add(Math.floor(this.next() * items.length));
    return [...chosen].sort((x, y) => x - y).map((i) => items[i] as T);
  }
}

/** Rounds to a fixed number of decimals so values serialise without float noise. */
export function round(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}
