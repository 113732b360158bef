/** Deterministic, incompressible text: `n` CJK characters (3 UTF-8 bytes each). */
export function cjk(n: number, seed: number): string {
  let x = seed;
  let out = '';
  for (let i = 0; i < n; i += 1) {
    // xorshift32: every character drawn afresh, so the text does not compress.
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out += String.fromCharCode(0x4e00 + ((x >>> 0) % 0x5000));
  }
  return out;
}
