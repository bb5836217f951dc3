/**
 * A keyless-signed vulnerability attestation, end to end and offline: the policy names a trusted
 * root file made from a self-made Fulcio-like CA, CT log and Rekor (test/support/keyless.ts), and
 * a keyless identity. Images in the testbed registry carry a Trivy scan (../shared/vectors/vuln)
 * as cosign 3 writes it (a Sigstore bundle v0.3 referrer) or as cosign 2 does (a `.att` layer with
 * certificate, chain and Rekor bundle annotations). The check runs as the CLI and worker run it:
 * policy file loaded with loadPolicy, trusted root read by createCheckRunner.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Report } from "../../src/checks/report.js";
import { loadPolicy } from "../../src/cli/load-policy.js";
import { loadConfig } from "../../src/config.js";
import { createCheckRunner } from "../../src/worker/deps.js";
import {
  attachCosignEnvelope,
  attachSigstoreBundle,
  type ImageSpec,
  pushImage,
  randomRepo,
} from "../support/image-builder.js";
import { fakeSigstore, type KeylessIdentity, keylessAttLayer, keylessBundle } from "../support/keyless.js";
import { getTestbed } from "../support/testbed.js";
import { readVectorJson } from "../support/vectors.js";

const testbed = getTestbed();
const NOW = new Date();
const RELEASE: KeylessIdentity = { subject: "release@acme.test", issuer: "https://oidc.acme.test" };
const STRANGER: KeylessIdentity = { subject: "someone@elsewhere.test", issuer: "https://oidc.acme.test" };
const sigstore = fakeSigstore(NOW);
const spec: ImageSpec = { config: { User: "10001" }, history: [{ created_by: "COPY app /app # buildkit" }] };
const VULN_V1 = "https://cosign.sigstore.dev/attestation/vuln/v1";
let dir: string;

/** `trivy image --format cosign-vuln alpine:3.10` from Trivy's docs: one fixable CRITICAL (apk-tools). */
function trivyPredicate(): Record<string, unknown> {
  return readVectorJson("vuln/trivy/cosign-vuln-alpine-3.10.docs.extracted.json") as Record<string, unknown>;
}

/** The same scan finding nothing: Trivy omits `Vulnerabilities` from a clean result. */
function allClearPredicate(): Record<string, unknown> {
  const predicate = trivyPredicate() as { scanner: { result: { Results: Record<string, unknown>[] } } };
  for (const r of predicate.scanner.result.Results) delete r.Vulnerabilities;
  return predicate;
}

/** cosign's own spec example: two HIGH (busybox, ssl_client), fixed in 1.32.1-r4. */
function cosignSpecPredicate(): Record<string, unknown> {
  const doc = readVectorJson("vuln/cosign/spec-example-vuln-predicate.extracted.json") as {
    predicate: Record<string, unknown>;
  };
  return doc.predicate;
}

function statementAbout(repo: string, digest: string, predicate: unknown): object {
  return {
    _type: "https://in-toto.io/Statement/v0.1",
    predicateType: VULN_V1,
    subject: [{ name: repo, digest: { sha256: digest.slice("sha256:".length) } }],
    predicate,
  };
}

/** How the attestation is stored, and what to break in it. */
type Form = "bundle" | "att";
type Tamper = "certificate" | "set" | null;

function flipLastByte(b64: string): string {
  const bytes = Buffer.from(b64, "base64");
  bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0x01;
  return bytes.toString("base64");
}

/** Pushes an image with a keyless-signed scan of `predicate`, signed as `signer`; returns its tag reference. */
async function attested(
  form: Form,
  predicate: unknown,
  opts: { signer?: KeylessIdentity; tamper?: Tamper } = {},
): Promise<string> {
  const repo = randomRepo("keyless");
  const image = await pushImage(testbed.open, repo, spec, "1.0");
  const statement = statementAbout(repo, image.digest, predicate);
  const signer = opts.signer ?? RELEASE;
  if (form === "bundle") {
    const bundle = keylessBundle(sigstore, signer, statement, NOW) as {
      verificationMaterial: {
        certificate: { rawBytes: string };
        tlogEntries: { inclusionPromise: { signedEntryTimestamp: string } }[];
      };
    };
    const material = bundle.verificationMaterial;
    const entry = material.tlogEntries[0];
    if (opts.tamper === "certificate") {
      const der = Buffer.from(material.certificate.rawBytes, "base64");
      der.write("x", der.indexOf(signer.subject));
      material.certificate.rawBytes = der.toString("base64");
    }
    if (opts.tamper === "set" && entry)
      entry.inclusionPromise.signedEntryTimestamp = flipLastByte(entry.inclusionPromise.signedEntryTimestamp);
    await attachSigstoreBundle(testbed.open, repo, image, bundle);
  } else {
    const layer = keylessAttLayer(sigstore, signer, statement, NOW);
    const a = { ...layer.annotations };
    if (opts.tamper === "certificate") {
      const pem = a["dev.sigstore.cosign/certificate"] ?? "";
      const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ""), "base64");
      der.write("x", der.indexOf(signer.subject));
      const b64 = der.toString("base64").replace(/.{64}/g, "$&\n");
      a["dev.sigstore.cosign/certificate"] =
        `-----BEGIN CERTIFICATE-----\n${b64.replace(/\n?$/, "\n")}-----END CERTIFICATE-----\n`;
    }
    if (opts.tamper === "set") {
      const rekor = JSON.parse(a["dev.sigstore.cosign/bundle"] ?? "{}");
      rekor.SignedEntryTimestamp = flipLastByte(rekor.SignedEntryTimestamp);
      a["dev.sigstore.cosign/bundle"] = JSON.stringify(rekor);
    }
    await attachCosignEnvelope(testbed.open, repo, image.digest, layer.envelope, a);
  }
  return `${testbed.open.host}/${repo}:1.0`;
}

let policies = 0;

/** Checks `reference` with a policy file trusting `identity` and the trusted root file `root`. */
async function check(
  reference: string,
  opts: { identity?: KeylessIdentity; root?: "ours" | "without-ca" } = {},
): Promise<Report> {
  const host = testbed.open.host;
  const identity = opts.identity ?? RELEASE;
  const file = join(dir, `policy-${++policies}.yaml`);
  await writeFile(
    file,
    [
      `registries: { allowPrivate: ["${host}"], allowInsecure: ["${host}"] }`,
      "trust:",
      `  keyless: [{ issuer: "${identity.issuer}", subject: "${identity.subject}" }]`,
      `  trustedRoot: ./${opts.root === "without-ca" ? "root-without-ca.json" : "trusted_root.json"}`,
      // The vectors' scans are from 2021-2022: age is not what these tests are about.
      "vulnerabilities: { scanner: { kind: none }, maxAgeDays: 10000 }",
    ].join("\n"),
  );
  const env = { HOME: "/nonexistent", DOCKER_CONFIG: "/nonexistent" };
  const { policy, source } = await loadPolicy(file, env, "/");
  const runner = await createCheckRunner({
    policy,
    policySource: source,
    config: loadConfig(env),
    env,
    cwd: "/",
  });
  return runner({ reference }, new AbortController().signal);
}

function ids(report: Report): string[] {
  return report.findings.map((f) => f.id);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "image-check-keyless-"));
  await writeFile(join(dir, "trusted_root.json"), JSON.stringify(sigstore.trustedRoot()));
  await writeFile(
    join(dir, "root-without-ca.json"),
    JSON.stringify(sigstore.trustedRoot({ withoutCa: true })),
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.each<[Form, string]>([
  ["bundle", "a Sigstore bundle v0.3 referrer (cosign 3)"],
  ["att", "a `.att` layer with certificate, chain and Rekor bundle annotations (cosign 2)"],
])("a keyless-signed Trivy scan attestation in %s: %s", (form) => {
  it("when the policy trusts its identity and trusted root, it is signed data: vuln.critical, no vuln.no-data", async () => {
    const report = await check(await attested(form, trivyPredicate()));
    expect(report.vulnerabilities?.sources).toEqual([
      expect.objectContaining({
        kind: "attestation",
        signedBy: "release@acme.test (https://oidc.acme.test)",
      }),
    ]);
    expect(report.vulnerabilities?.items[0]).toMatchObject({
      id: "CVE-2021-36159",
      package: "apk-tools",
      installed: "2.10.6-r0",
      fixed: "2.10.7-r0",
      severity: "critical",
    });
    expect(ids(report)).toContain("vuln.critical");
    expect(ids(report)).not.toContain("vuln.no-data");
  });

  it("when it finds nothing and the policy trusts its signer, it is a clean bill: no vuln.* finding", async () => {
    const report = await check(await attested(form, allClearPredicate()));
    expect(report.vulnerabilities?.counts).toEqual({ critical: 0, high: 0, medium: 0, low: 0, unknown: 0 });
    expect(ids(report).filter((id) => id.startsWith("vuln."))).toEqual([]);
  });

  it("when the policy names another identity, its findings stand but it clears nothing: vuln.no-data", async () => {
    const reference = await attested(form, trivyPredicate());
    const report = await check(reference, { identity: STRANGER });
    expect(report.vulnerabilities?.sources).toEqual([expect.objectContaining({ signedBy: null })]);
    expect(ids(report)).toEqual(expect.arrayContaining(["vuln.critical", "vuln.no-data"]));
  });

  it.each<
    [
      string,
      { signer?: KeylessIdentity; tamper?: Tamper },
      { identity?: KeylessIdentity; root?: "without-ca" },
    ]
  >([
    ["signed by another identity", { signer: STRANGER }, {}],
    ["checked against a trusted root without its CA", {}, { root: "without-ca" }],
    ["with its certificate changed", { tamper: "certificate" }, {}],
    ["with its Rekor SET changed", { tamper: "set" }, {}],
  ])("all clear but %s, it is unsigned: vuln.no-data, never a clean bill", async (_what, made, checked) => {
    const report = await check(await attested(form, allClearPredicate(), made), checked);
    expect(report.vulnerabilities?.sources).toEqual([expect.objectContaining({ signedBy: null })]);
    expect(ids(report)).toContain("vuln.no-data");
    expect(report.verdict).not.toBe("pass");
  });
});

describe("cosign's spec example scan (two HIGH), keyless-signed in a Sigstore bundle", () => {
  it("when trusted, reports vuln.high for both packages, and no vuln.no-data", async () => {
    const report = await check(await attested("bundle", cosignSpecPredicate()));
    expect(report.vulnerabilities?.counts.high).toBe(2);
    expect(report.vulnerabilities?.items.map((i) => i.package).sort()).toEqual(["busybox", "ssl_client"]);
    expect(ids(report)).toContain("vuln.high");
    expect(ids(report)).not.toContain("vuln.no-data");
  });
});
