/**
 * Signature verification over a digest rather than the message. A Sigstore `messageSignature`
 * bundle attached to an image signs the manifest bytes, which the facts do not carry; but ECDSA
 * and RSA PKCS#1 v1.5 are hash-then-sign, so checking the signature against the manifest digest
 * (the image digest itself) is the same check. Node's crypto only verifies over messages, so the
 * ECDSA arithmetic is done here (SEC 1 v2, section 4.1.4); it is verification only, with public
 * inputs, so it needs no constant-time care.
 */
import { Buffer } from "node:buffer";
import { constants, type KeyObject, publicDecrypt } from "node:crypto";

/** Short Weierstrass curve parameters (a = -3). */
export interface Curve {
  p: bigint;
  b: bigint;
  n: bigint;
  gx: bigint;
  gy: bigint;
}

/** NIST curves (FIPS 186-4, appendix D.1.2), both with a = -3. */
export const CURVES: Record<string, Curve> = {
  "P-256": {
    p: 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn,
    b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
    n: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
    gx: 0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n,
    gy: 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n,
  },
  "P-384": {
    p: 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffffn,
    b: 0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn,
    n: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
    gx: 0xaa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7n,
    gy: 0x3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5fn,
  },
};

/** Jacobian point (X, Y, Z); Z = 0 is the point at infinity. */
type Point = [bigint, bigint, bigint];

function mod(a: bigint, m: bigint): bigint {
  const r = a % m;
  return r < 0n ? r + m : r;
}

function inverse(a: bigint, m: bigint): bigint {
  let [r0, r1] = [mod(a, m), m];
  let [s0, s1] = [1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  return mod(s0, m);
}

function double([x, y, z]: Point, p: bigint): Point {
  if (z === 0n || y === 0n) return [0n, 1n, 0n];
  // dbl-2001-b for a = -3 (https://hyperelliptic.org/EFD/g1p/auto-shortw-jacobian-3.html)
  const delta = mod(z * z, p);
  const gamma = mod(y * y, p);
  const beta = mod(x * gamma, p);
  const alpha = mod(3n * (x - delta) * (x + delta), p);
  const x3 = mod(alpha * alpha - 8n * beta, p);
  const z3 = mod((y + z) * (y + z) - gamma - delta, p);
  const y3 = mod(alpha * (4n * beta - x3) - 8n * gamma * gamma, p);
  return [x3, y3, z3];
}

function add(a: Point, b: Point, p: bigint): Point {
  if (a[2] === 0n) return b;
  if (b[2] === 0n) return a;
  const z1z1 = mod(a[2] * a[2], p);
  const z2z2 = mod(b[2] * b[2], p);
  const u1 = mod(a[0] * z2z2, p);
  const u2 = mod(b[0] * z1z1, p);
  const s1 = mod(a[1] * b[2] * z2z2, p);
  const s2 = mod(b[1] * a[2] * z1z1, p);
  if (u1 === u2) return s1 === s2 ? double(a, p) : [0n, 1n, 0n];
  const h = mod(u2 - u1, p);
  const r = mod(s2 - s1, p);
  const hh = mod(h * h, p);
  const hhh = mod(h * hh, p);
  const v = mod(u1 * hh, p);
  const x3 = mod(r * r - hhh - 2n * v, p);
  const y3 = mod(r * (v - x3) - s1 * hhh, p);
  const z3 = mod(a[2] * b[2] * h, p);
  return [x3, y3, z3];
}

/** u1·G + u2·Q by Shamir's trick. */
function twoMul(u1: bigint, g: Point, u2: bigint, q: Point, p: bigint): Point {
  const gq = add(g, q, p);
  let acc: Point = [0n, 1n, 0n];
  const bits = Math.max(u1.toString(2).length, u2.toString(2).length);
  for (let i = bits - 1; i >= 0; i--) {
    acc = double(acc, p);
    const b1 = (u1 >> BigInt(i)) & 1n;
    const b2 = (u2 >> BigInt(i)) & 1n;
    if (b1 && b2) acc = add(acc, gq, p);
    else if (b1) acc = add(acc, g, p);
    else if (b2) acc = add(acc, q, p);
  }
  return acc;
}

function toBigInt(bytes: Buffer): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${bytes.toString("hex")}`);
}

/** Reads an ASN.1 DER `SEQUENCE { INTEGER r, INTEGER s }` (RFC 3279 section 2.2.3). */
function parseDerSignature(sig: Buffer): { r: bigint; s: bigint } | null {
  let i = 0;
  const readLen = (): number | null => {
    const first = sig[i++];
    if (first === undefined) return null;
    if (first < 0x80) return first;
    const count = first & 0x7f;
    if (count === 0 || count > 2) return null;
    let len = 0;
    for (let k = 0; k < count; k++) {
      const b = sig[i++];
      if (b === undefined) return null;
      len = len * 256 + b;
    }
    return len;
  };
  const readInt = (): bigint | null => {
    if (sig[i++] !== 0x02) return null;
    const len = readLen();
    if (len === null || len === 0 || i + len > sig.length) return null;
    const v = toBigInt(sig.subarray(i, i + len));
    i += len;
    return v;
  };
  if (sig[i++] !== 0x30) return null;
  const total = readLen();
  if (total === null || i + total !== sig.length) return null;
  const r = readInt();
  const s = readInt();
  return r !== null && s !== null && i === sig.length ? { r, s } : null;
}

/** ECDSA verification of a DER signature over `digest` with a P-256 or P-384 public key. */
export function verifyEcdsaDigest(key: KeyObject, digest: Buffer, signature: Buffer): boolean {
  const jwk = key.export({ format: "jwk" });
  const curve = typeof jwk.crv === "string" ? CURVES[jwk.crv] : undefined;
  if (!curve || typeof jwk.x !== "string" || typeof jwk.y !== "string") return false;
  const rs = parseDerSignature(signature);
  if (!rs) return false;
  const { r, s } = rs;
  const { p, n } = curve;
  if (r <= 0n || r >= n || s <= 0n || s >= n) return false;
  // e: the leftmost bits of the digest, as many as the order has (SEC 1, 4.1.4 step 3).
  const nBits = n.toString(2).length;
  let e = toBigInt(digest);
  const extra = digest.length * 8 - nBits;
  if (extra > 0) e >>= BigInt(extra);
  const w = inverse(s, n);
  const q: Point = [toBigInt(Buffer.from(jwk.x, "base64url")), toBigInt(Buffer.from(jwk.y, "base64url")), 1n];
  const point = twoMul(mod(e * w, n), [curve.gx, curve.gy, 1n], mod(r * w, n), q, p);
  if (point[2] === 0n) return false;
  const zinv = inverse(point[2], p);
  const x = mod(point[0] * zinv * zinv, p);
  return mod(x, n) === r;
}

/** DER DigestInfo prefixes (RFC 8017 section 9.2, note 1). */
const DIGEST_INFO: Record<string, string> = {
  sha256: "3031300d060960864801650304020105000420",
  sha384: "3041300d060960864801650304020205000430",
  sha512: "3051300d060960864801650304020305000440",
};

/** RSA PKCS#1 v1.5 verification of `signature` over `digest` (RFC 8017 section 8.2.2). */
export function verifyRsaPkcs1Digest(
  key: KeyObject,
  digest: Buffer,
  hash: string,
  signature: Buffer,
): boolean {
  const prefix = DIGEST_INFO[hash];
  if (!prefix) return false;
  try {
    const decoded = publicDecrypt({ key, padding: constants.RSA_PKCS1_PADDING }, signature);
    return decoded.equals(Buffer.concat([Buffer.from(prefix, "hex"), digest]));
  } catch {
    return false;
  }
}

/** Verifies a signature over a digest with whichever scheme the key's type allows; false for Ed25519. */
export function verifyDigest(key: KeyObject, digest: Buffer, hash: string, signature: Buffer): boolean {
  switch (key.asymmetricKeyType) {
    case "ec":
      return verifyEcdsaDigest(key, digest, signature);
    case "rsa":
      return verifyRsaPkcs1Digest(key, digest, hash, signature);
    default:
      // Ed25519 signs the message itself, never a digest: it cannot be checked without the bytes.
      return false;
  }
}
