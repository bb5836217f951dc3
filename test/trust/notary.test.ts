import { X509Certificate } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { NotaryFacts } from "../../src/facts/model.js";
import { olpcCanonical } from "../../src/trust/canonical-json.js";
import type { TrustMaterial } from "../../src/trust/types.js";
import { verifyTrust } from "../../src/trust/verify.js";
import { trustFacts } from "../support/signing.js";
import { readVector, readVectorText, sha256Digest } from "../support/vectors.js";

const DIR = "notary-v1/local-notary-0.7.0";
const COSIGN_PUB = "containers-image-cosign/cosign.pub";
const GUN = "127.0.0.1:15099/probe/app";
// timestamp.json expires 2026-12-14; the others later.
const BEFORE_EXPIRY = new Date("2026-06-01T00:00:00Z");
const DIGEST = sha256Digest(readVector(`${DIR}/manifest.json`));
const SERVER = { registry: "127.0.0.1:15099", server: "http://127.0.0.1:4443" };
const MATERIAL: TrustMaterial = { keys: [], keyless: [], trustedRoot: {}, notary: [SERVER] };

/** The root role's key id in root.json, and the PEM certificate it stands for. */
const ROOT_KEY_ID = "9e3d2f9997b98d1de195a24d46c99641cfb9022fd65c67c9e8c62183c6c673a4";
const ROOT_CERT_PEM = Buffer.from(
  JSON.parse(readVector(`${DIR}/root.json`).toString("utf8")).signed.keys[ROOT_KEY_ID].keyval.public,
  "base64",
).toString("utf8");
/** The targets role's key id: in root.json, but not a root key. */
const TARGETS_KEY_ID = "e735de4306fade2ebd341e7ec3368960597ac963965f4e4686f255280c6801af";

/** MATERIAL with the root pinned by key id on the notary entry. */
const PINNED: TrustMaterial = { ...MATERIAL, notary: [{ ...SERVER, rootKeyId: ROOT_KEY_ID }] };

type Role = "root" | "timestamp" | "snapshot" | "targets";

function notaryFacts(over: Partial<Record<Role, Buffer>> = {}): NotaryFacts {
  const file = (role: Role) => (over[role] ?? readVector(`${DIR}/${role}.json`)).toString("base64");
  return {
    server: "http://127.0.0.1:4443",
    gun: GUN,
    root: file("root"),
    timestamp: file("timestamp"),
    snapshot: file("snapshot"),
    targets: file("targets"),
  };
}

/** A role file with `edit` applied to its parsed JSON (signatures left as they were). */
function editRole(
  role: Role,
  edit: (doc: { signed: Record<string, unknown>; signatures: unknown[] }) => void,
): Buffer {
  const doc = JSON.parse(readVector(`${DIR}/${role}.json`).toString("utf8"));
  edit(doc);
  return Buffer.from(JSON.stringify(doc));
}

function check(
  opts: {
    notary?: NotaryFacts;
    digest?: string;
    now?: Date;
    tag?: string;
    registry?: string;
    material?: TrustMaterial;
  } = {},
) {
  const facts = trustFacts({
    digest: opts.digest ?? DIGEST,
    notary: opts.notary ?? notaryFacts(),
    reference: {
      registry: opts.registry ?? "127.0.0.1:15099",
      repository: "probe/app",
      tag: opts.tag ?? "v1",
    },
  });
  return verifyTrust(facts, opts.material ?? MATERIAL, opts.now ?? BEFORE_EXPIRY);
}

describe("Docker Content Trust (Notary v1)", () => {
  describe("when notary 0.7.0's metadata for tag v1 is checked before it expires", () => {
    describe("and the policy pins its root key id", () => {
      it("verifies the tag's target as the manifest digest through root, timestamp, snapshot and targets", () => {
        expect(check({ material: PINNED }).signatures).toEqual([
          expect.objectContaining({
            kind: "notary-v1",
            foundVia: "notary:http://127.0.0.1:4443",
            status: "verified",
            signedDigest: DIGEST,
            signer: "notary root 9e3d2f9997b9",
          }),
        ]);
      });

      it("is still invalid once the timestamp has expired", () => {
        const sig = check({ material: PINNED, now: new Date("2026-12-15T00:00:00Z") }).signatures[0];
        expect(sig?.status).toBe("invalid");
      });
    });

    describe("and the policy pins the root certificate's key among its trusted keys", () => {
      const publicPem = new X509Certificate(ROOT_CERT_PEM).publicKey
        .export({ type: "spki", format: "pem" })
        .toString();

      it.each([
        ["the certificate", ROOT_CERT_PEM],
        ["its public key", publicPem],
      ])("verifies it, naming the key, when the policy gives %s", (_what, pem) => {
        const material = { ...MATERIAL, keys: [{ name: "dct-root", pem }] };
        expect(check({ material }).signatures[0]).toMatchObject({ status: "verified", signer: "dct-root" });
      });
    });

    describe("and the policy does not pin its root", () => {
      it("is unverified: the chain verifies, but its root was trusted on first use", () => {
        const sig = check().signatures[0];
        expect(sig).toMatchObject({ kind: "notary-v1", status: "unverified", signedDigest: DIGEST });
        // The detail says how to pin it.
        expect(sig?.detail).toContain(`rootKeyId: ${ROOT_KEY_ID}`);
      });

      it.each<[string, TrustMaterial]>([
        ["a key id of another role", { ...MATERIAL, notary: [{ ...SERVER, rootKeyId: TARGETS_KEY_ID }] }],
        ["another trusted key", { ...MATERIAL, keys: [{ name: "other", pem: readVectorText(COSIGN_PUB) }] }],
        [
          "the root key id for another registry",
          { ...MATERIAL, notary: [SERVER, { ...SERVER, registry: "other.test", rootKeyId: ROOT_KEY_ID }] },
        ],
      ])("is unverified when the policy pins %s", (_what, material) => {
        expect(check({ material }).signatures[0]?.status).toBe("unverified");
      });
    });

    it("adds no Docker Hub note for another registry", () => {
      expect(check().notes).toEqual([]);
    });
  });

  describe("when something is wrong", () => {
    it("is invalid once the timestamp has expired", () => {
      const sig = check({ now: new Date("2026-12-15T00:00:00Z") }).signatures[0];
      expect(sig?.status).toBe("invalid");
      expect(sig?.detail).toContain("timestamp.json expired");
    });

    it("is invalid when the tag resolves to another digest than its target", () => {
      const sig = check({ digest: `sha256:${"e".repeat(64)}` }).signatures[0];
      expect(sig).toMatchObject({ status: "invalid", signedDigest: DIGEST });
    });

    it.each<[string, Role, (doc: { signed: Record<string, unknown>; signatures: unknown[] }) => void]>([
      [
        "the targets were changed",
        "targets",
        (d) => {
          ((d.signed.targets as Record<string, { length: number }>).v1 as { length: number }).length = 396;
        },
      ],
      [
        "the snapshot was changed",
        "snapshot",
        (d) => {
          d.signed.version = 3;
        },
      ],
      [
        "the timestamp was changed",
        "timestamp",
        (d) => {
          d.signed.version = 2;
        },
      ],
      [
        "the root was changed",
        "root",
        (d) => {
          d.signed.expires = "2040-01-01T00:00:00Z";
        },
      ],
      [
        "the timestamp lost its signature",
        "timestamp",
        (d) => {
          d.signatures = [];
        },
      ],
    ])("is invalid when %s", (_name, role, edit) => {
      const sig = check({ notary: notaryFacts({ [role]: editRole(role, edit) }) }).signatures[0];
      expect(sig?.status).toBe("invalid");
    });

    it("is invalid when the root certificate names another repository", () => {
      const sig = check({ notary: { ...notaryFacts(), gun: "127.0.0.1:15099/other/app" } }).signatures[0];
      expect(sig?.status).toBe("invalid");
    });

    it("is unverified when a role file is missing", () => {
      const { snapshot: _omitted, ...partial } = notaryFacts();
      expect(check({ notary: partial }).signatures[0]?.status).toBe("unverified");
    });

    it("is unverified when the policy names another notary server for the registry", () => {
      const notary = { ...notaryFacts(), server: "http://127.0.0.1:9999" };
      const sig = check({ notary }).signatures[0];
      expect(sig?.status).toBe("unverified");
      expect(sig?.detail).toContain("does not name");
    });

    it("is unverified when the server could not be asked", () => {
      const notary: NotaryFacts = {
        server: "http://127.0.0.1:4443",
        gun: GUN,
        error: { code: "NETWORK", message: "refused" },
      };
      expect(check({ notary }).signatures[0]?.status).toBe("unverified");
    });

    it("reports no signature, only a note, for a tag that has no target", () => {
      const report = check({ tag: "v2" });
      expect(report.signatures).toEqual([]);
      expect(report.notes.join(" ")).toContain("no signed target for tag v2");
    });

    it("is invalid for JSON that is not TUF metadata", () => {
      const sig = check({ notary: notaryFacts({ targets: Buffer.from("[1,2") }) }).signatures[0];
      expect(sig?.status).toBe("invalid");
    });
  });

  describe("when the image is on Docker Hub", () => {
    it("notes that content trust was retired there, with or without notary metadata", () => {
      const facts = trustFacts({
        digest: DIGEST,
        reference: { registry: "docker.io", repository: "library/alpine" },
      });
      const notes = verifyTrust(facts, MATERIAL, BEFORE_EXPIRY).notes;
      expect(notes.some((n) => n.includes("retired on Docker Hub"))).toBe(true);
    });
  });
});

describe("olpcCanonical", () => {
  it.each<[string, unknown, string]>([
    ["sorts keys and drops whitespace", { b: 1, a: [true, null] }, '{"a":[true,null],"b":1}'],
    ["escapes only quote and backslash", { s: 'a"b\\c\n<>&' }, '{"s":"a\\"b\\\\c\n<>&"}'],
    [
      "sorts keys by their UTF-8 bytes",
      { "\u00e9": 1, z: 2, "\u{1f600}": 3, "\uff5e": 4 },
      '{"z":2,"\u00e9":1,"\uff5e":4,"\u{1f600}":3}',
    ],
  ])("%s", (_name, value, expected) => {
    expect(olpcCanonical(value)).toBe(expected);
  });

  it("refuses non-integer numbers", () => {
    expect(() => olpcCanonical({ x: 1.5 })).toThrow();
  });

  it("reproduces the bytes notary signed for each role", () => {
    for (const role of ["root", "timestamp", "snapshot", "targets"]) {
      const raw = readVector(`${DIR}/${role}.json`).toString("utf8");
      expect(raw).toContain(olpcCanonical(JSON.parse(raw).signed));
    }
  });
});
