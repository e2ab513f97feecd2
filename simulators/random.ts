/**
 * Counter-based, stateless randomness. Every draw is a hash of (seed, keys…), so the value of any
 * metric at any instant is a pure function of its inputs: a restarted simulator regenerates
 * exactly the past it already sent, and two generators never share hidden state.
 */

export type Key = string | number;

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;
const TWO_32 = 4_294_967_296;

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function mixWord(h: number, word: number): number {
  let k = Math.imul(word | 0, C1);
  k = rotl(k, 15);
  k = Math.imul(k, C2);
  h ^= k;
  h = rotl(h, 13);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function finalMix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Splits an integer (up to 2^53) into two 32-bit words so epoch milliseconds hash without loss. */
function mixNumber(h: number, n: number): number {
  if (Number.isSafeInteger(n)) {
    const lo = ((n % TWO_32) + TWO_32) % TWO_32;
    const hi = Math.floor(n / TWO_32);
    h = mixWord(h, 0x4e554d42);
    h = mixWord(h, lo);
    return mixWord(h, hi);
  }
  // Non-integers hash through their exact textual form: rare, and still deterministic.
  return mixString(h, `#${String(n)}`);
}

function mixString(h: number, s: string): number {
  h = mixWord(h, 0x53545247 ^ s.length);
  for (let i = 0; i < s.length; i++) h = mixWord(h, s.charCodeAt(i));
  return h;
}

/** 32-bit hash of a seed and keys; keys of different types or order never collide by design. */
export function hash32(seed: number, ...keys: readonly Key[]): number {
  let h = mixNumber(0x2545f491, Math.trunc(seed));
  for (const k of keys) h = typeof k === 'number' ? mixNumber(h, k) : mixString(h, k);
  return finalMix(h ^ keys.length);
}

/** Derives a child seed; cheaper than re-hashing long string keys on every draw. */
export function deriveSeed(seed: number, ...keys: readonly Key[]): number {
  return hash32(seed, ...keys);
}

/** Uniform in the open interval (0, 1): never exactly 0, so it is safe under a logarithm. */
export function uniform(seed: number, ...keys: readonly Key[]): number {
  return (hash32(seed, ...keys) + 0.5) / TWO_32;
}

/** Standard normal draw (Box–Muller on two independent hashes). */
export function gaussian(seed: number, ...keys: readonly Key[]): number {
  const u1 = uniform(seed, ...keys, 'g1');
  const u2 = uniform(seed, ...keys, 'g2');
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/** Uniform in [lo, hi). */
export function between(lo: number, hi: number, seed: number, ...keys: readonly Key[]): number {
  return lo + (hi - lo) * uniform(seed, ...keys);
}

/**
 * Poisson draw by CDF inversion of one uniform (exact for the rates a simulator needs); large
 * rates fall back to the normal approximation to bound the work.
 */
export function poisson(lambda: number, seed: number, ...keys: readonly Key[]): number {
  if (!(lambda > 0)) return 0;
  if (lambda > 200) {
    return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * gaussian(seed, ...keys)));
  }
  const u = uniform(seed, ...keys);
  let p = Math.exp(-lambda);
  let cdf = p;
  let k = 0;
  while (u > cdf && k < 10_000) {
    k++;
    p *= lambda / k;
    cdf += p;
  }
  return k;
}

/**
 * Smooth value noise: independent normal knots every `periodMs`, blended with a cosine ease.
 * Models slow processes such as weather or drifting set-points without any state.
 */
export function smoothNoise(t: number, periodMs: number, seed: number, ...keys: readonly Key[]): number {
  const x = t / periodMs;
  const k = Math.floor(x);
  const f = x - k;
  const w = (1 - Math.cos(Math.PI * f)) / 2;
  const a = gaussian(seed, ...keys, k);
  const b = gaussian(seed, ...keys, k + 1);
  return a * (1 - w) + b * w;
}
