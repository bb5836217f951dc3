// A critical CVE published for an approved digest, end to end: the real pipeline against the
// testbed registry, the real recheck job through the real worker over the real store. The image is
// signed by the policy's key and carries a signed Trivy scan attestation listing one fixable
// critical CVE; IT approved it seeing that CVE. A re-check of the same data changes nothing. Then a
// new scan is attested that adds a second critical CVE: the same `vuln.critical` at the same
// severity, yet a change, and at `watch.revokeAt: critical` the approval is revoked.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { parsePolicy } from "../../src/policy/yaml.js";
import { openWatchStore } from "../../src/store/watch.js";
import { createCheckRunner } from "../../src/worker/deps.js";
import { openQueue } from "../../src/worker/queue.js";
import { enqueueRound, RECHECK_JOB, type RecheckOutcome, recheckJobHandler } from "../../src/worker/watch.js";
import { startWorker } from "../../src/worker/worker.js";
import { freshStore } from "../store/support.js";
import { cosignVulnPredicate, trivyReport, trivyVuln } from "../support/facts.js";
import { attachCosignAttestation, pushImage, randomRepo, signCosign } from "../support/image-builder.js";
import { type Proxy as RecordingProxy, startProxy } from "../support/proxy.js";
import { makeKey } from "../support/signing.js";
import { getTestbed } from "../support/testbed.js";

const DAY = 86_400_000;

describe("watch, when a critical CVE is published for an approved digest", () => {
  const key = makeKey("ecdsa-p256");
  let proxy: RecordingProxy;
  let store: ReturnType<typeof freshStore>;
  let round: () => Promise<RecheckOutcome[]>;
  let attest: (cves: string[]) => Promise<void>;
  let decisionId: string;
  let clock: Date;

  beforeAll(async () => {
    proxy = await startProxy(getTestbed().open.host);
    const host = proxy.host;
    const repo = randomRepo("watch-vuln");
    const image = await pushImage(getTestbed().open, repo, { config: { User: "10001" } }, "2.0.0");
    await signCosign(getTestbed().open, repo, image.digest, key.privateKey);
    attest = async (cves) => {
      const at = new Date().toISOString();
      await attachCosignAttestation(
        getTestbed().open,
        repo,
        image.digest,
        {
          _type: "https://in-toto.io/Statement/v0.1",
          predicateType: "https://cosign.sigstore.dev/attestation/vuln/v1",
          subject: [{ name: repo, digest: { sha256: image.digest.slice("sha256:".length) } }],
          predicate: cosignVulnPredicate(
            trivyReport(
              cves.map((id) => trivyVuln(id, "CRITICAL", "3.3.1-r1")),
              at,
            ),
            at,
          ),
        },
        key.privateKey,
      );
    };
    await attest(["CVE-2026-0001"]);

    const env = { HOME: "/nonexistent", DOCKER_CONFIG: "/nonexistent" };
    const runner = await createCheckRunner({
      policy: parsePolicy(
        [
          `registries: { trusted: ["${host}/**"], allowPrivate: ["${host}"], allowInsecure: ["${host}"] }`,
          `trust: { keys: [{ name: release, pem: ${JSON.stringify(key.publicPem)} }] }`,
          "vulnerabilities: { sources: [attestation] }",
        ].join("\n"),
        "watch-vuln-policy.yaml",
      ),
      policySource: "built-in default",
      config: loadConfig(env),
      env,
      cwd: "/",
    });
    const reference = `${host}/${repo}:2.0.0`;

    // IT approved it two days ago, knowing about CVE-2026-0001.
    store = freshStore();
    clock = new Date();
    const approvedAt = new Date(clock.getTime() - 2 * DAY);
    const report = await runner({ reference }, new AbortController().signal);
    const critical = report.findings.find((f) => f.id === "vuln.critical");
    expect(critical?.evidence).toMatchObject({ items: [{ id: "CVE-2026-0001" }] });
    const req = await store.createRequest(
      {
        reference,
        repository: `${host}/${repo}`,
        tag: "2.0.0",
        requestedBy: "U0DEV",
        source: "slack",
        channel: "C0DEV",
        reason: "the fix ships next sprint",
      },
      approvedAt,
    );
    await store.attachReport(req.id, report, approvedAt);
    decisionId = (
      await store.decide({
        requestId: req.id,
        decision: "approved",
        decidedBy: "U0IT",
        isApprover: true,
        now: approvedAt,
        expireDays: 90,
      })
    ).id;

    const watch = openWatchStore(store.db);
    const queue = openQueue(store);
    const now = () => clock;
    const handler = recheckJobHandler({
      store,
      watch,
      runner,
      policy: { watch: { intervalHours: 24, revokeAt: "critical" } },
      now,
      notifier: null,
    });
    round = async () => {
      const before = store.db.sqlite.prepare("SELECT max(id) AS id FROM jobs").get() as { id: number | null };
      await enqueueRound({ watch, queue, intervalHours: 24, now });
      const worker = startWorker({ store, handlers: { [RECHECK_JOB]: handler }, now, concurrency: 1 });
      await worker.idle();
      await worker.stop();
      const rows = store.db.sqlite
        .prepare("SELECT result FROM jobs WHERE kind = ? AND id > ? ORDER BY id")
        .all(RECHECK_JOB, before.id ?? 0) as { result: string }[];
      return rows.map((r) => JSON.parse(r.result) as RecheckOutcome);
    };
  });

  afterAll(async () => {
    await proxy?.stop();
  });

  it("finds nothing new while the scan lists the CVE IT saw", async () => {
    expect(await round()).toEqual([expect.objectContaining({ outcome: "unchanged" })]);
    expect((await store.getDecision(decisionId, clock))?.status).toBe("approved");
  });

  it("revokes the approval once a new scan adds a second critical CVE to the same finding", async () => {
    await attest(["CVE-2026-0001", "CVE-2026-0002"]);
    clock = new Date(clock.getTime() + DAY + 60_000);
    expect(await round()).toEqual([
      expect.objectContaining({ outcome: "revoked", changes: ["vuln.critical"] }),
    ]);
    const decision = await store.getDecision(decisionId, clock);
    expect(decision).toMatchObject({ status: "revoked", decidedBy: "watch" });
    expect(decision?.reason).toContain("vuln.critical (critical)");
    expect((await openWatchStore(store.db).get(decisionId))?.changes).toEqual([
      expect.objectContaining({ id: "vuln.critical", vulnerabilities: ["CVE-2026-0002"] }),
    ]);
  });
});
