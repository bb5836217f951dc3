/**
 * Registry benchmark (first part of `npm run bench`): gathers the same images with image-check
 * in-process and with `skopeo inspect` (+ `skopeo inspect --config`) processes, interleaved in
 * one run on the same machine, and prints per-image medians, ratios and image-check's request
 * counts. Never asserts a time: the figures are for reading.
 *
 * Runnable alone: `npx tsx bench/registry.ts` (starts and stops its own testbed).
 */
import { execFile } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import type { ImageFacts } from "../src/facts/model.js";
import { parseReference } from "../src/reference/parse.js";
import { MemoryTokenCache, RegistrySource, staticCredentials } from "../src/registry/index.js";
import {
  attachSigstoreBundle,
  pushImage,
  pushIndex,
  randomRepo,
  signCosign,
} from "../test/support/image-builder.js";
import type { Testbed } from "../test/support/testbed.js";

const run = promisify(execFile);

/** Runs per measurement: odd, so the median is one real run. */
const RUNS = 9;

interface Subject {
  name: string;
  ref: string;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await work();
  return { ms: performance.now() - started, value };
}

/** Push the benchmark's images to the token registry (so cold runs pay for a token, as in real life). */
async function pushSubjects(testbed: Testbed): Promise<Subject[]> {
  const ep = testbed.token;
  const repo = randomRepo("bench");
  const config = {
    User: "app",
    Env: ["PATH=/usr/bin"],
    Labels: { "org.opencontainers.image.source": "https://example.invalid/x" },
  };
  await pushImage(ep, repo, { config }, "oci");
  await pushImage(ep, repo, { mediaTypes: "docker", config }, "docker");
  await pushIndex(
    ep,
    repo,
    {
      images: [
        { spec: { config }, platform: { os: "linux", architecture: "amd64" } },
        { spec: { config }, platform: { os: "linux", architecture: "arm64", variant: "v8" } },
      ],
      attestations: true,
    },
    "multi",
  );
  const signed = await pushImage(ep, repo, { config }, "signed");
  await signCosign(ep, repo, signed.digest, generateKeyPairSync("ed25519").privateKey);
  await attachSigstoreBundle(ep, repo, signed, {
    mediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
    verificationMaterial: { publicKey: { hint: "bench" } },
    messageSignature: { messageDigest: { algorithm: "SHA2_256", digest: "AA==" }, signature: "AA==" },
  });
  const at = (tag: string) => `${ep.host}/${repo}:${tag}`;
  return [
    { name: "single-arch OCI", ref: at("oci") },
    { name: "single-arch Docker v2", ref: at("docker") },
    { name: "multi-arch index + BuildKit attestations", ref: at("multi") },
    { name: "signed (cosign .sig + bundle referrer)", ref: at("signed") },
  ];
}

/** The benchmark; returns the printed table. */
export async function benchRegistry(testbed: Testbed): Promise<string> {
  const ep = testbed.token;
  const subjects = await pushSubjects(testbed);
  const options = (tokenCache: MemoryTokenCache) => ({
    allowPrivate: [ep.host],
    // The testbed's token realm is plain http on its own port: listed, so credentials may go there.
    allowInsecure: [ep.host, ...(ep.tokenRealm ? [new URL(ep.tokenRealm).host] : [])],
    credentials: staticCredentials({ [ep.host]: { username: ep.username!, password: ep.password! } }),
    tokenCache,
  });
  const creds = `${ep.username}:${ep.password}`;
  const skopeo = (ref: string, config: boolean) =>
    run(testbed.skopeo, [
      "inspect",
      "--tls-verify=false",
      "--creds",
      creds,
      ...(config ? ["--config"] : []),
      `docker://${ref}`,
    ]);

  const rows: string[][] = [];
  for (const subject of subjects) {
    const ref = parseReference(subject.ref);
    // Warm: one long-lived source, as the bot keeps one (token cache and keep-alive connections warm).
    const warmSource = new RegistrySource(options(new MemoryTokenCache()));
    await warmSource.gather(ref);
    const cold: number[] = [];
    const warm: number[] = [];
    const inspect: number[] = [];
    const inspectBoth: number[] = [];
    let coldFacts: ImageFacts | undefined;
    let warmFacts: ImageFacts | undefined;
    // Interleaved so that machine noise falls on every contestant alike.
    for (let i = 0; i < RUNS; i++) {
      const source = new RegistrySource(options(new MemoryTokenCache()));
      const c = await timed(() => source.gather(ref));
      source.close();
      cold.push(c.ms);
      coldFacts = c.value;
      const w = await timed(() => warmSource.gather(ref));
      warm.push(w.ms);
      warmFacts = w.value;
      const s1 = await timed(() => skopeo(subject.ref, false));
      const s2 = await timed(() => skopeo(subject.ref, true));
      inspect.push(s1.ms);
      inspectBoth.push(s1.ms + s2.ms);
    }
    warmSource.close();
    const m = { cold: median(cold), warm: median(warm), inspect: median(inspect), both: median(inspectBoth) };
    rows.push([
      subject.name,
      m.cold.toFixed(1),
      m.warm.toFixed(1),
      m.inspect.toFixed(1),
      m.both.toFixed(1),
      (m.cold / m.inspect).toFixed(2),
      (m.warm / m.inspect).toFixed(2),
      String(coldFacts?.stats.requests ?? "?"),
      String(warmFacts?.stats.requests ?? "?"),
    ]);
  }
  const header = [
    "image",
    "ic cold ms",
    "ic warm ms",
    "skopeo inspect ms",
    "skopeo inspect+config ms",
    "cold/skopeo",
    "warm/skopeo",
    "requests cold",
    "requests warm",
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ")} |`;
  return [
    `Registry: ${RUNS} runs per figure, medians; token-auth registry on loopback; ratios against one skopeo inspect process.`,
    "ic = image-check in-process gather (manifest, config, signature/attestation/referrer look-ups); cold = new token cache and connections.",
    "",
    line(header),
    `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`,
    ...rows.map(line),
  ].join("\n");
}

const isEntry =
  process.argv[1] && import.meta.url === (await import("node:url")).pathToFileURL(process.argv[1]).href;
if (isEntry) {
  const { startTestbed } = await import("../test/support/testbed.js");
  const { testbed, stop } = await startTestbed({ withoutDockerd: true });
  try {
    process.stdout.write(`${await benchRegistry(testbed)}\n`);
  } finally {
    await stop();
  }
}
