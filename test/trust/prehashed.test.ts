import { createECDH, createHash, generateKeyPairSync, sign } from "node:crypto";
import { describe, expect, it } from "vitest";
import { CURVES, verifyDigest } from "../../src/trust/prehashed.js";

describe("verifyDigest", () => {
  it.each([
    ["P-256", "prime256v1", 32],
    ["P-384", "secp384r1", 48],
  ])("holds %s's real constants", (curve, openssl, size) => {
    const c = CURVES[curve]!;
    const hex = (n: bigint) => n.toString(16).padStart(size * 2, "0");
    const publicOf = (d: bigint) => {
      const ecdh = createECDH(openssl);
      ecdh.setPrivateKey(Buffer.from(hex(d), "hex"));
      return ecdh.getPublicKey().toString("hex").slice(2);
    };
    // d = 1 gives G; d = n - 1 gives -G (same x, y = p - Gy), which pins n and p.
    expect(publicOf(1n)).toBe(hex(c.gx) + hex(c.gy));
    expect(publicOf(c.n - 1n)).toBe(hex(c.gx) + hex(c.p - c.gy));
    // G is on y^2 = x^3 - 3x + b, which pins b.
    expect((c.gy * c.gy - (c.gx ** 3n - 3n * c.gx + c.b)) % c.p).toBe(0n);
  });

  it.each([
    ["ec", { namedCurve: "P-256" }, "sha256"],
    ["ec", { namedCurve: "P-256" }, "sha512"],
    ["ec", { namedCurve: "P-384" }, "sha256"],
    ["ec", { namedCurve: "P-384" }, "sha384"],
    ["rsa", { modulusLength: 2048 }, "sha256"],
    ["rsa", { modulusLength: 2048 }, "sha512"],
  ] as const)(
    "accepts Node's %s %o signatures over %s digests and rejects other digests",
    (type, options, hash) => {
      for (let i = 0; i < 5; i++) {
        const { privateKey, publicKey } = generateKeyPairSync(
          type as "ec",
          options as { namedCurve: string },
        );
        const msg = Buffer.from(`message ${i}`);
        const sig = sign(hash, msg, privateKey);
        const digest = createHash(hash).update(msg).digest();
        expect(verifyDigest(publicKey, digest, hash, sig)).toBe(true);
        const other = Buffer.from(digest);
        other[0] = (other[0] ?? 0) ^ 1;
        expect(verifyDigest(publicKey, other, hash, sig)).toBe(false);
      }
    },
  );

  it("rejects malformed and out-of-range ECDSA signatures", () => {
    const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const digest = createHash("sha256").update("x").digest();
    for (const sig of ["", "3000", "300602010002010", "3006020100020100", "30060201010201ff"]) {
      expect(verifyDigest(publicKey, digest, "sha256", Buffer.from(sig, "hex"))).toBe(false);
    }
  });

  it("cannot check Ed25519 over a digest", () => {
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const digest = createHash("sha256").update("x").digest();
    expect(verifyDigest(publicKey, digest, "sha256", sign(null, digest, privateKey))).toBe(false);
  });
});
