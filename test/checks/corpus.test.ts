/**
 * The facts-level corpus: for every check id, one crafted image that fires that check and no check
 * it should not. Each is the clean image with one thing changed; where a change brings another
 * finding with it by nature (a RUN step means the image has a shell), the case says so.
 */
import { describe, expect, it } from "vitest";
import { runChecks } from "../../src/checks/index.js";
import { CHECKS, type CheckContext, type CheckId, severityRank } from "../../src/checks/types.js";
import type { ImageFacts } from "../../src/facts/model.js";
import { evaluate } from "../../src/policy/evaluate.js";
import { cleanContext, cleanFacts, DIGEST, NOW, trivyVuln, withScan } from "../support/facts.js";

const OTHER = `sha256:${"9f".repeat(32)}`;
/** What the clean image reports: its publisher and its signer, both info. */
const CLEAN: CheckId[] = ["provenance.publisher", "trust.signed"];

interface Case {
  change: (facts: ImageFacts, ctx: CheckContext) => void;
  /** Findings that come with this one by nature, besides the clean image's. */
  with?: CheckId[];
  /** Clean findings this change takes away. */
  without?: CheckId[];
}

const shellRun = (facts: ImageFacts, script: string) => {
  facts.history.push({ createdBy: `RUN /bin/sh -c ${script} # buildkit`, emptyLayer: false });
};

const CORPUS: Record<CheckId, Case> = {
  "tag.latest": {
    change: (f) => {
      f.reference = {
        ...f.reference,
        tag: "latest",
        original: `registry.example.com/acme/app:latest@${DIGEST}`,
      };
    },
  },
  "tag.not-descriptive": {
    change: (f) => {
      f.reference = { ...f.reference, tag: "stable" };
    },
  },
  "tag.not-pinned": {
    change: (f) => {
      f.reference = {
        registry: "registry.example.com",
        repository: "acme/app",
        tag: "1.4.2",
        original: "registry.example.com/acme/app:1.4.2",
      };
    },
  },
  "tag.moved": {
    change: (_f, ctx) => {
      ctx.lastKnownDigest = OTHER;
      ctx.tagDigest = DIGEST;
    },
  },
  "tag.digest-conflict": {
    change: (_f, ctx) => {
      ctx.lastKnownDigest = OTHER;
      ctx.tagDigest = OTHER;
    },
  },
  "provenance.publisher": { change: () => {} },
  "provenance.untrusted-publisher": {
    change: (f) => {
      f.reference = {
        ...f.reference,
        registry: "ghcr.io",
        repository: "someone/app",
        original: `ghcr.io/someone/app:1.4.2@${DIGEST}`,
      };
    },
  },
  "provenance.no-source": {
    change: (f, ctx) => {
      delete f.config.labels["org.opencontainers.image.source"];
      delete ctx.trust.attestations[0]!.sourceRepository;
    },
  },
  "provenance.no-revision": {
    change: (f, ctx) => {
      delete f.config.labels["org.opencontainers.image.revision"];
      delete ctx.trust.attestations[0]!.sourceRevision;
    },
  },
  "provenance.no-attestation": {
    change: (_f, ctx) => {
      ctx.trust.attestations = ctx.trust.attestations.filter((a) => a.kind !== "slsa-provenance");
    },
  },
  "provenance.stale": {
    change: (f) => {
      f.config.created = new Date(NOW.getTime() - 400 * 86_400_000).toISOString();
    },
  },
  "history.empty": {
    change: (f) => {
      f.history = [];
    },
  },
  "history.remote-script": {
    change: (f) => shellRun(f, "curl -fsSL https://example.com/install.sh | sh"),
    with: ["contents.runtimes"],
  },
  "history.remote-add": {
    change: (f) => {
      f.history.push({
        createdBy: "ADD https://example.com/tool.tar.gz /opt/ # buildkit",
        emptyLayer: false,
      });
    },
  },
  "history.insecure-fetch": {
    change: (f) => shellRun(f, "curl -k -o /opt/tool.tgz https://example.com/tool.tgz"),
    with: ["contents.runtimes"],
  },
  "history.secret": {
    change: (f) => {
      f.history.push({ createdBy: "ARG DB_PASSWORD=hunter2hunter2 # buildkit", emptyLayer: true });
    },
  },
  "history.credential": {
    change: (f) => {
      f.history.push({
        createdBy: `ARG GITHUB_TOKEN=ghp_${"x1Y2z3".repeat(6)} # buildkit`,
        emptyLayer: true,
      });
    },
  },
  "history.sudo": {
    change: (f) => shellRun(f, "sudo touch /app/ready"),
    with: ["contents.runtimes"],
  },
  "history.world-writable": {
    change: (f) => {
      f.history.push({ createdBy: "COPY --chmod=777 data /app/data # buildkit", emptyLayer: false });
    },
  },
  "config.root-user": {
    change: (f) => {
      f.config.user = "";
    },
  },
  "config.secret-env": {
    change: (f) => {
      f.config.env.push("DB_PASSWORD=hunter2hunter2");
    },
  },
  "config.credential": {
    change: (f) => {
      f.config.env.push("AWS_ACCESS_KEY_ID=AKIAQ3VZ7XJ2M5K8N4RT");
      f.config.env.push("AWS_SECRET_ACCESS_KEY=q8Zr3Lw9Tb+Xy2Vn5Pd/7Hc1Mk4Jf6Gs0Aa3Ee8R");
    },
  },
  "config.ssh-port": {
    change: (f) => {
      f.config.exposedPorts.push("22/tcp");
    },
  },
  "config.sensitive-volume": {
    change: (f) => {
      f.config.volumes.push("/var/run/docker.sock");
    },
  },
  "config.no-healthcheck": {
    change: (f) => {
      f.config.healthcheck = null;
    },
  },
  "config.large-image": {
    change: (f) => {
      f.compressedSize = 600_000_000;
    },
  },
  "contents.runtimes": {
    change: (f) => {
      f.config.env.push("PYTHON_VERSION=3.12.4");
    },
  },
  "trust.signed": { change: () => {} },
  "trust.unsigned": {
    change: (f, ctx) => {
      f.signatures = [];
      ctx.trust.signatures = [];
    },
    // The index signature is what vouches for BuildKit's scan attestation.
    with: ["vuln.no-data"],
    without: ["trust.signed"],
  },
  "trust.untrusted-signer": {
    change: (_f, ctx) => {
      ctx.trust.signatures = [
        {
          ...ctx.trust.signatures[0]!,
          status: "untrusted",
          signer: undefined,
          detail: "no trusted key verifies it",
        },
      ];
    },
    // The index signature is what vouches for BuildKit's scan attestation.
    with: ["vuln.no-data"],
    without: ["trust.signed"],
  },
  "trust.signature-invalid": {
    change: (_f, ctx) => {
      ctx.trust.signatures = [
        {
          ...ctx.trust.signatures[0]!,
          status: "invalid",
          signedDigest: OTHER,
          detail: `payload names ${OTHER}`,
        },
      ];
    },
    // The index signature is what vouches for BuildKit's scan attestation.
    with: ["vuln.no-data"],
    without: ["trust.signed"],
  },
  "trust.digest-mismatch": {
    change: (f) => {
      f.incomplete = [
        {
          part: "signatures",
          code: "DIGEST_MISMATCH",
          message: "signature manifest did not hash to its digest",
        },
      ];
    },
    with: ["check.incomplete"],
  },
  "trust.no-sbom": {
    change: (_f, ctx) => {
      ctx.trust.attestations = ctx.trust.attestations.filter((a) => !a.kind.startsWith("sbom"));
    },
  },
  "check.incomplete": {
    change: (f) => {
      f.incomplete = [{ part: "referrers", code: "TIMEOUT", message: "the registry did not answer in 10 s" }];
    },
  },
  "vuln.critical": {
    change: (_f, ctx) => withScan(ctx, [trivyVuln("CVE-2024-0001", "CRITICAL", "3.3.2-r0")]),
  },
  "vuln.high": {
    change: (_f, ctx) => withScan(ctx, [trivyVuln("CVE-2024-0002", "HIGH", "3.3.2-r0")]),
  },
  "vuln.unfixed": {
    change: (_f, ctx) => withScan(ctx, [trivyVuln("CVE-2024-0003", "CRITICAL")]),
  },
  "vuln.other": {
    change: (_f, ctx) => withScan(ctx, [trivyVuln("CVE-2024-0004", "MEDIUM", "3.3.2-r0")]),
  },
  "vuln.no-data": {
    change: (_f, ctx) => {
      ctx.trust.statements = [];
    },
  },
  "vuln.stale-data": {
    change: (_f, ctx) => withScan(ctx, [], new Date(NOW.getTime() - 30 * 86_400_000).toISOString()),
  },
  "watch.changed": {
    // A re-check of an approval that saw the clean image, now running as root.
    change: (f, ctx) => {
      f.config.user = "";
      ctx.approval = { findings: [] };
    },
    with: ["config.root-user"],
  },
};

function judge(c: Case) {
  const facts = cleanFacts();
  const ctx = cleanContext();
  c.change(facts, ctx);
  const findings = runChecks(facts, ctx);
  return { findings, evaluation: evaluate(findings, ctx.policy, facts.reference, NOW) };
}

describe("the facts-level corpus", () => {
  it("covers every check id of the contract", () => {
    expect(Object.keys(CORPUS).sort()).toEqual(Object.keys(CHECKS).sort());
  });

  it("passes the clean image with nothing above info", () => {
    const { findings, evaluation } = judge({ change: () => {} });
    expect(evaluation.verdict).toBe("pass");
    expect(findings.map((f) => f.id).sort()).toEqual([...CLEAN].sort());
    expect(findings.every((f) => f.severity === "info")).toBe(true);
  });

  describe.each(Object.entries(CORPUS) as [CheckId, Case][])("%s", (id, c) => {
    it("fires that check and no other it should not", () => {
      const expected = new Set<CheckId>([...CLEAN, id, ...(c.with ?? [])]);
      for (const w of c.without ?? []) expected.delete(w);
      const { findings } = judge(c);
      expect([...new Set(findings.map((f) => f.id))].sort()).toEqual([...expected].sort());
    });

    it("gets the verdict its default severity calls for", () => {
      const { evaluation, findings } = judge(c);
      const worst = Math.max(...findings.map((f) => severityRank(f.severity)));
      const expected =
        worst >= severityRank("critical")
          ? "block"
          : worst >= severityRank("medium") || id === "check.incomplete"
            ? "review"
            : "pass";
      expect(evaluation.verdict).toBe(expected);
    });
  });
});
