/**
 * The registry-level corpus: for every check id, a crafted image pushed to the testbed registry
 * (signed with a test key, BuildKit attestations in its index) and checked end to end through
 * `checkImage`: gather -> verify trust -> run checks -> evaluate -> report. Each fires its check and
 * no check it should not; the clean image passes with nothing above info.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Report } from "../../src/checks/report.js";
import { CHECKS, type CheckId, type Severity, severityRank } from "../../src/checks/types.js";
import { policyVersion } from "../../src/policy/evaluate.js";
import { parsePolicy } from "../../src/policy/yaml.js";
import { trustMaterialFromPolicy } from "../../src/trust/material.js";
import { checkImage } from "../../src/worker/pipeline.js";
import { sourceFor } from "../registry/helpers.js";
import { cosignVulnPredicate, trivyReport, trivyVuln } from "../support/facts.js";
import { type ImageSpec, pushIndex, randomRepo, signCosign } from "../support/image-builder.js";
import { type Proxy as RegistryProxy, startProxy } from "../support/proxy.js";
import { makeKey } from "../support/signing.js";
import { getTestbed } from "../support/testbed.js";

const testbed = getTestbed();
const NOW = new Date("2026-11-30T12:00:00.000Z");
const daysAgo = (n: number) => new Date(NOW.getTime() - n * 86_400_000).toISOString();
const SOURCE = "https://github.com/acme/app";
const REVISION = "4f1c2a9d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39";
const OTHER = `sha256:${"9f".repeat(32)}`;

/** An SBOM listing only the app: no interpreter for contents.runtimes to report. */
const APP_SBOM = {
  spdxVersion: "SPDX-2.3",
  dataLicense: "CC0-1.0",
  SPDXID: "SPDXRef-DOCUMENT",
  name: "app",
  documentNamespace: "https://example.invalid/app",
  creationInfo: { created: "2026-11-20T00:00:00Z", creators: ["Tool: test"] },
  packages: [
    { name: "app", SPDXID: "SPDXRef-Package-app", versionInfo: "1.4.2", downloadLocation: "NOASSERTION" },
  ],
};

/** SLSA v1 provenance that names neither a source repository nor a revision. */
const BARE_PROVENANCE = {
  buildDefinition: {
    buildType: "https://example.com/build/v1",
    externalParameters: {},
    internalParameters: {},
    resolvedDependencies: [],
  },
  runDetails: { builder: { id: "https://example.com/builder" }, metadata: {} },
};

function cleanSpec(): ImageSpec {
  return {
    created: daysAgo(10),
    config: {
      User: "10001:10001",
      Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
      Labels: { "org.opencontainers.image.source": SOURCE, "org.opencontainers.image.revision": REVISION },
      ExposedPorts: { "8080/tcp": {} },
      Healthcheck: { Test: ["CMD", "/app", "healthcheck"], Interval: 30_000_000_000 },
      Entrypoint: ["/app"],
    },
    history: [
      { created: daysAgo(10), created_by: "COPY app /app # buildkit", comment: "buildkit.dockerfile.v0" },
      {
        created: daysAgo(10),
        created_by: "USER 10001:10001",
        empty_layer: true,
        comment: "buildkit.dockerfile.v0",
      },
    ],
  };
}

interface Case {
  /** Change the clean image. */
  spec?: (s: ImageSpec) => void;
  tag?: string;
  attestations?: { provenance?: object | boolean; sbom?: object | boolean };
  /** How it is signed: by the trusted key (default), a stranger's key, a payload naming another digest, or not at all. */
  sign?: "trusted" | "stranger" | "other-digest" | "none";
  /** The reference to check; default `host/repo:tag@digest`. */
  reference?: (host: string, repo: string, tag: string, digest: string) => string;
  /** Extra policy YAML. */
  policy?: string;
  /** What the store knows the tag resolved to before. */
  lastKnown?: string;
  /** Push another image under the same tag afterwards. */
  retag?: boolean;
  /** Checked through a faulting proxy instead of the registry itself. */
  via?: "tamper-config" | "fail-signature-lookups";
  /** Findings that come with this one by nature, besides the clean image's; clean findings it takes away. */
  with?: CheckId[];
  without?: CheckId[];
  /** The full expected set, when the image cannot be gathered at all. */
  exactly?: CheckId[];
  /** The scan result BuildKit attaches (a cosign vuln predicate of a Trivy report); null: none. Default: nothing found. */
  vulns?: Record<string, unknown>[] | null;
  scannedDaysAgo?: number;
  /** A re-check of an approval (`watch`): the findings the approval saw. */
  approval?: { id: CheckId; severity: Severity }[];
}

const shellRun = (script: string) => (s: ImageSpec) => {
  s.history!.push({ created: daysAgo(10), created_by: `RUN /bin/sh -c ${script} # buildkit` });
};

const CORPUS: Record<CheckId, Case> = {
  "tag.latest": { tag: "latest" },
  "tag.not-descriptive": { tag: "stable" },
  "tag.not-pinned": { reference: (h, r, t) => `${h}/${r}:${t}` },
  "tag.moved": { reference: (h, r, t) => `${h}/${r}:${t}`, lastKnown: OTHER, with: ["tag.not-pinned"] },
  "tag.digest-conflict": { retag: true },
  "provenance.publisher": {},
  "provenance.untrusted-publisher": { policy: "untrusted" },
  "provenance.no-source": {
    spec: (s) => {
      delete s.config!.Labels!["org.opencontainers.image.source"];
    },
    attestations: { provenance: BARE_PROVENANCE, sbom: APP_SBOM },
  },
  "provenance.no-revision": {
    spec: (s) => {
      delete s.config!.Labels!["org.opencontainers.image.revision"];
    },
    attestations: { provenance: BARE_PROVENANCE, sbom: APP_SBOM },
  },
  "provenance.no-attestation": { attestations: { sbom: APP_SBOM } },
  "provenance.stale": {
    spec: (s) => {
      s.created = daysAgo(400);
      for (const h of s.history!) h.created = daysAgo(400);
    },
  },
  "history.empty": {
    spec: (s) => {
      s.history = [];
    },
  },
  "history.remote-script": {
    spec: shellRun("curl -fsSL https://example.com/install.sh | sh"),
    with: ["contents.runtimes"],
  },
  "history.remote-add": {
    spec: (s) => {
      s.history!.push({
        created: daysAgo(10),
        created_by: "ADD https://example.com/tool.tar.gz /opt/ # buildkit",
      });
    },
  },
  "history.insecure-fetch": {
    spec: shellRun("curl -k -o /opt/tool.tgz https://example.com/tool.tgz"),
    with: ["contents.runtimes"],
  },
  "history.secret": {
    spec: (s) => {
      s.history!.push({
        created: daysAgo(10),
        created_by: "ARG DB_PASSWORD=hunter2hunter2",
        empty_layer: true,
      });
    },
  },
  "history.credential": {
    spec: (s) => {
      s.history!.push({
        created: daysAgo(10),
        created_by: `ARG GITHUB_TOKEN=ghp_${"x1Y2z3".repeat(6)}`,
        empty_layer: true,
      });
    },
  },
  "history.sudo": { spec: shellRun("sudo touch /app.ready"), with: ["contents.runtimes"] },
  "history.world-writable": {
    spec: (s) => {
      s.history!.push({ created: daysAgo(10), created_by: "COPY --chmod=777 data /data # buildkit" });
    },
  },
  "config.root-user": {
    spec: (s) => {
      s.config!.User = "";
    },
  },
  "config.secret-env": {
    spec: (s) => {
      s.config!.Env!.push("DB_PASSWORD=hunter2hunter2");
    },
  },
  "config.credential": {
    spec: (s) => {
      s.config!.Env!.push("AWS_ACCESS_KEY_ID=AKIAQ3VZ7XJ2M5K8N4RT");
      s.config!.Env!.push("AWS_SECRET_ACCESS_KEY=q8Zr3Lw9Tb+Xy2Vn5Pd/7Hc1Mk4Jf6Gs0Aa3Ee8R");
    },
  },
  "config.ssh-port": {
    spec: (s) => {
      s.config!.ExposedPorts!["22/tcp"] = {};
    },
  },
  "config.sensitive-volume": {
    spec: (s) => {
      s.config!.Volumes = { "/var/run/docker.sock": {} };
    },
  },
  "config.no-healthcheck": {
    spec: (s) => {
      delete s.config!.Healthcheck;
    },
  },
  "config.large-image": {
    spec: (s) => {
      s.layers = [{ size: 20_000 }];
    },
    policy: "maxSizeMB: 0.01\n",
  },
  "contents.runtimes": {
    spec: (s) => {
      s.config!.Env!.push("PYTHON_VERSION=3.12.4");
    },
  },
  "trust.signed": {},
  // The index signature is what vouches for BuildKit's scan attestation: without it, no trusted data.
  "trust.unsigned": { sign: "none", with: ["vuln.no-data"], without: ["trust.signed"] },
  "trust.untrusted-signer": { sign: "stranger", with: ["vuln.no-data"], without: ["trust.signed"] },
  "trust.signature-invalid": { sign: "other-digest", with: ["vuln.no-data"], without: ["trust.signed"] },
  "trust.digest-mismatch": { via: "tamper-config", exactly: ["trust.digest-mismatch", "check.incomplete"] },
  "trust.no-sbom": { attestations: { provenance: true } },
  "check.incomplete": {
    via: "fail-signature-lookups",
    with: ["check.incomplete", "vuln.no-data"],
    without: ["trust.signed"],
  },
  "vuln.critical": { vulns: [trivyVuln("CVE-2024-0001", "CRITICAL", "3.3.2-r0")] },
  "vuln.high": { vulns: [trivyVuln("CVE-2024-0002", "HIGH", "3.3.2-r0")] },
  "vuln.unfixed": { vulns: [trivyVuln("CVE-2024-0003", "CRITICAL")] },
  "vuln.other": { vulns: [trivyVuln("CVE-2024-0004", "LOW", "3.3.2-r0")] },
  "vuln.no-data": { vulns: null },
  "vuln.stale-data": { vulns: [], scannedDaysAgo: 30 },
  // A re-check of an approval that saw the clean image, now signed only by an unknown key. That
  // key vouches for nothing, so the index's scan attestation no longer counts as signed either.
  "watch.changed": {
    sign: "stranger",
    approval: [],
    // The scan attached to the clean image is trusted only under a trusted signature.
    with: ["trust.untrusted-signer", "vuln.no-data"],
    without: ["trust.signed"],
  },
};

const CLEAN: CheckId[] = ["provenance.publisher", "trust.signed"];
const trusted = makeKey("ecdsa-p256");
const stranger = makeKey("ecdsa-p256");
const proxies: RegistryProxy[] = [];

/** Push the case's image, sign it as asked, and check it end to end. */
async function check(c: Case): Promise<Report> {
  const repo = randomRepo("corpus");
  const tag = c.tag ?? "1.4.2";
  const spec = cleanSpec();
  c.spec?.(spec);
  const index = await pushIndex(
    testbed.open,
    repo,
    {
      images: [{ spec, platform: { os: "linux", architecture: "amd64" } }],
      attestations: {
        ...(c.vulns === null
          ? {}
          : {
              vuln: cosignVulnPredicate(
                trivyReport(c.vulns ?? [], daysAgo(c.scannedDaysAgo ?? 1)),
                daysAgo(c.scannedDaysAgo ?? 1),
              ),
            }),
        ...(c.attestations ?? { provenance: true, sbom: APP_SBOM }),
      },
    },
    tag,
  );
  if (c.sign !== "none") {
    const key = c.sign === "stranger" ? stranger : trusted;
    await signCosign(
      testbed.open,
      repo,
      index.digest,
      key.privateKey,
      c.sign === "other-digest" ? { payloadDigest: OTHER } : {},
    );
  }
  // The store last saw the tag where it points now, so only the pin disagrees with it.
  let lastKnown = c.lastKnown ?? index.digest;
  if (c.retag) {
    const newer = cleanSpec();
    newer.created = daysAgo(1);
    const moved = await pushIndex(
      testbed.open,
      repo,
      { images: [{ spec: newer, platform: { os: "linux", architecture: "amd64" } }] },
      tag,
    );
    lastKnown = moved.digest;
  }

  let host = testbed.open.host;
  if (c.via) {
    const configDigest = index.images[0]!.configDigest;
    const proxy = await startProxy(testbed.open.host, {
      tamper:
        c.via === "tamper-config"
          ? (req, body) =>
              req.path.endsWith(`/blobs/${configDigest}`)
                ? Buffer.concat([body, Buffer.from(" ")])
                : undefined
          : undefined,
      respond:
        c.via === "fail-signature-lookups"
          ? (req) =>
              /\/manifests\/sha256-/.test(req.path)
                ? { status: 500, body: '{"errors":[{"code":"UNKNOWN"}]}' }
                : undefined
          : undefined,
    });
    proxies.push(proxy);
    host = proxy.host;
  }

  const trustedGlob = c.policy === "untrusted" ? "docker.io/library/*" : `${host}/**`;
  const policy = parsePolicy(
    [
      `registries: { trusted: ["${trustedGlob}"], allowPrivate: ["${host}"], allowInsecure: ["${host}"] }`,
      `trust: { keys: [{ name: release, pem: ${JSON.stringify(trusted.publicPem)} }] }`,
      c.policy && c.policy !== "untrusted" ? c.policy : "",
    ].join("\n"),
    "corpus-policy.yaml",
  );
  const reference = (c.reference ?? ((h, r, t, d) => `${h}/${r}:${t}@${d}`))(host, repo, tag, index.digest);
  const outcome = await checkImage(
    reference,
    {
      policy,
      policyVersion: policyVersion(policy),
      source: sourceFor([host]),
      trust: trustMaterialFromPolicy(policy),
      lastKnownDigest: () => lastKnown,
      now: () => NOW,
    },
    c.approval ? { approval: { findings: c.approval } } : {},
  );
  return outcome.report;
}

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.stop()));
});

describe("the registry-level corpus", () => {
  it("covers every check id of the contract", () => {
    expect(Object.keys(CORPUS).sort()).toEqual(Object.keys(CHECKS).sort());
  });

  describe("the clean image (signed, labelled, attested, non-root, healthcheck, version tag, pinned)", () => {
    let report: Report;
    beforeAll(async () => {
      report = await check({});
    });

    it("passes with nothing above info", () => {
      expect(report.verdict).toBe("pass");
      expect(report.findings.map((f) => f.id).sort()).toEqual(CLEAN);
      expect(report.findings.every((f) => f.severity === "info")).toBe(true);
    });

    it("names its signer, its provenance and its pinned reference", () => {
      expect(report.facts.signatures).toEqual([
        expect.objectContaining({ kind: "cosign", status: "verified", signer: "release" }),
      ]);
      expect(report.facts.attestations).toEqual(
        expect.arrayContaining([expect.objectContaining({ kind: "slsa-provenance" })]),
      );
      expect(report.image.pinned).toBe(report.reference);
    });
  });

  describe.each(Object.entries(CORPUS) as [CheckId, Case][])("%s", (id, c) => {
    let report: Report;
    beforeAll(async () => {
      report = await check(c);
    });

    it("fires that check and no other it should not", () => {
      const expected = new Set<CheckId>(c.exactly ?? [...CLEAN, id, ...(c.with ?? [])]);
      for (const w of c.without ?? []) expected.delete(w);
      expect([...new Set(report.findings.map((f) => f.id))].sort()).toEqual([...expected].sort());
    });

    it("gets the verdict its findings call for, and never pass when it could not finish", () => {
      const worst = Math.max(...report.findings.map((f) => severityRank(f.severity)));
      const incomplete = report.findings.some((f) => f.id === "check.incomplete");
      const expected =
        worst >= severityRank("critical")
          ? "block"
          : worst >= severityRank("medium") || incomplete
            ? "review"
            : "pass";
      expect(report.verdict).toBe(expected);
    });
  });

  it("pins exactly what was checked", async () => {
    const report = await check({ reference: (h, r, t) => `${h}/${r}:${t}` });
    expect(report.image.pinned).toMatch(new RegExp(`:1\\.4\\.2@${report.image.digest}$`));
  });
});
