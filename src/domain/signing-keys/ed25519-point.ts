/*
 * Whether 32 bytes encode a point of the Ed25519 curve (RFC 8032 §5.1.3, "Decoding"). node:crypto
 * imports any 32 bytes as an Ed25519 public key without checking, so a registration of bytes that
 * no private key matches would pass unnoticed and every signature under it fail later.
 */

const P = 2n ** 255n - 19n;

function power(base: bigint, exponent: bigint): bigint {
  let result = 1n;
  let b = base % P;
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % P;
    b = (b * b) % P;
    e >>= 1n;
  }
  return result;
}

const inverse = (value: bigint) => power(value, P - 2n);
const D = (((-121665n * inverse(121666n)) % P) + P) % P;

/** True when `bytes` is the canonical encoding of a point on Ed25519 (RFC 8032 §5.1.3). */
export function isEd25519Point(bytes: Uint8Array): boolean {
  if (bytes.length !== 32) return false;
  let y = 0n;
  for (let i = 31; i >= 0; i -= 1) y = (y << 8n) | BigInt(bytes[i]!);
  const sign = y >> 255n;
  y &= (1n << 255n) - 1n;
  if (y >= P) return false;
  const y2 = (y * y) % P;
  const x2 = (((y2 - 1n + P) % P) * inverse((D * y2 + 1n) % P)) % P;
  if (x2 === 0n) return sign === 0n;
  // x² must be a square mod p (Euler's criterion) for x to exist.
  return power(x2, (P - 1n) / 2n) === 1n;
}
