/**
 * A Bloom filter over string keys: `mightHave` is false only for keys never added, and true for
 * a few more (about 2% false positives at 1,000,000 keys in the default 1 MiB, far fewer below).
 * Memory is fixed, however many keys are added.
 */
export class KeyFilter {
  private readonly bits: Uint32Array;
  private readonly mask: number;

  /** `log2Bits`: the filter holds 2^log2Bits bits (default 2^23: 1 MiB). */
  constructor(log2Bits = 23) {
    this.bits = new Uint32Array(2 ** (log2Bits - 5));
    this.mask = 2 ** log2Bits - 1;
  }

  add(key: string): void {
    hash(key);
    const h1 = hashA;
    const h2 = hashB;
    for (let i = 0; i < PROBES; i += 1) {
      const bit = (h1 + i * h2) & this.mask;
      this.bits[bit >>> 5]! |= 1 << (bit & 31);
    }
  }

  mightHave(key: string): boolean {
    hash(key);
    const h1 = hashA;
    const h2 = hashB;
    for (let i = 0; i < PROBES; i += 1) {
      const bit = (h1 + i * h2) & this.mask;
      if ((this.bits[bit >>> 5]! & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }
}

/** Bits set per key. */
const PROBES = 4;

/** The two hashes of the last {@link hash} call (module state, so no array per key is allocated). */
let hashA = 0;
let hashB = 0;

/**
 * Two independent 32-bit FNV-1a style hashes of the key's UTF-16 code units (double hashing),
 * left in hashA and hashB.
 */
function hash(key: string): void {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ key.length;
  for (let i = 0; i < key.length; i += 1) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  hashA = a >>> 0;
  // An odd step visits distinct bits for every probe.
  hashB = (b | 1) >>> 0;
}
