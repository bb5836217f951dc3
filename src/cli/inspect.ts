/**
 * `image-check inspect REF`: gather the facts and print them, as JSON (`--json`, like
 * `skopeo inspect` plus `--config`) or as a readable summary. Loads only the registry (and, for
 * `--source engine|auto`, the engine) modules: never the store or Slack.
 */
import { redactFacts } from "../checks/redact.js";
import { loadConfig } from "../config.js";
import { oneLine } from "../errors.js";
import {
  formatPlatform,
  type ImageFacts,
  type ImageSource,
  type Platform,
  parsePlatform,
} from "../facts/model.js";
import type { Policy } from "../policy/schema.js";
import { parseReference, pinnedReference, repositoryPath } from "../reference/parse.js";
import type { ImageReference } from "../reference/types.js";
import { type Command, type FlagSpec, parseArgs, UsageError } from "./args.js";
import { printable } from "./terminal.js";

const FLAGS: FlagSpec = {
  json: { type: "boolean" },
  platform: { type: "string" },
  source: { type: "string", choices: ["registry", "engine", "auto"] },
  policy: { type: "string" },
  tags: { type: "boolean" },
};

/** The command's --help text (main prints it for --help or -h). */
export const HELP = `Usage: image-check inspect REF [--json] [--tags] [--platform OS/ARCH] [--source registry|engine|auto] [--policy FILE]

Print the facts gathered about an image, without checking them: digests, platform(s), created,
user, env, labels, ports, volumes, entrypoint and cmd, healthcheck, history, layers and sizes,
the signatures and attestations found, and what gathering cost. No layer is downloaded.

Options:
  --json               the facts as JSON. Both forms mask secrets (env, labels, build steps) and
                       leave out signature and attestation bytes (digest and size are kept)
  --tags               also list the repository's tags (one more request per page of tags; at
                       most 10,000, marked truncated when the registry has more)
  --platform OS/ARCH   the platform to pick from a multi-arch index (default: the policy's, linux/amd64);
                       given explicitly, a single-platform image of another platform is refused
                       (PLATFORM_NOT_FOUND)
  --source KIND        registry (default), engine (the local Docker engine), or auto (engine if
                       the image is there, else registry)
  --policy FILE        policy file (default: IMAGE_CHECK_POLICY, else the built-in policy); its
                       registries.allowPrivate / allowInsecure say which registries may be on
                       private addresses or plain http
  -h, --help           this help

Exit codes: 0 facts printed, 3 could not gather (network, auth, bad registry data), 64 usage error.
`;

/** The `inspect` command. */
export const inspectCommand: Command = async (argv, io) => {
  const { flags, positionals } = parseArgs("inspect", argv, FLAGS);
  if (positionals.length !== 1)
    throw new UsageError(
      `${positionals.length === 0 ? "missing the image reference" : "takes one image reference"} (usage: image-check inspect REF [--json])`,
    );
  let ref: ImageReference;
  try {
    ref = parseReference(positionals[0]!);
  } catch (err) {
    throw new UsageError(oneLine(err));
  }
  const policy = await loadPolicyFor(flags.policy as string | undefined, io.env, io.cwd);
  const platformText = (flags.platform as string | undefined) ?? policy.platform;
  const platform = parsePlatform(platformText);
  if (!platform) throw new UsageError(`--platform must be os/arch or os/arch/variant, got "${platformText}"`);

  const config = loadConfig(io.env);
  const { createSource } = await import("./sources.js");
  const kind = (flags.source as "registry" | "engine" | "auto" | undefined) ?? "registry";
  const source: ImageSource & { close?: () => void } = await createSource(kind, {
    policy,
    config,
    env: io.env,
  });
  try {
    const facts = await source.gather(ref, {
      platform,
      listTags: Boolean(flags.tags),
      // One deadline for the whole gather, as for `check` (policy limits.checkSeconds).
      timeLimitMs: policy.limits.checkSeconds * 1000,
      // An explicit --platform is strict, also for a single-platform image.
      ...(flags.platform !== undefined ? { strictPlatform: true } : {}),
    });
    // Secrets in env, labels, annotations and build steps are masked in both forms: nothing this
    // tool prints shows one in full (the checks still see the real values).
    const shown = redactFacts(facts);
    io.stdout(flags.json ? `${JSON.stringify(shown, null, 2)}\n` : renderFacts(shown, platform));
  } finally {
    source.close?.();
  }
  return 0;
};

async function loadPolicyFor(path: string | undefined, env: NodeJS.ProcessEnv, cwd: string): Promise<Policy> {
  const { loadPolicy } = await import("./load-policy.js");
  try {
    return (await loadPolicy(path, env, cwd)).policy;
  } catch (err) {
    // A missing or wrong policy file is a usage error (exit 64), as the contract says.
    throw new UsageError(oneLine(err));
  }
}

// ---------------------------------------------------------------------------------------------
// The text summary. Everything in it came from a registry or an image author: printed through
// `safe()` so no escape sequence reaches the terminal.

/** Untrusted text made printable: control characters shown as escapes, one line (the terminal's one helper). */
export const safe = printable;

/** Bytes as docker prints them (SI units). */
export function humanSize(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let n = bytes;
  let u = 0;
  while (n >= 1000 && u < units.length - 1) {
    n /= 1000;
    u++;
  }
  return u === 0 ? `${n} B` : `${n.toFixed(n < 10 ? 2 : 1)} ${units[u]}`;
}

function seconds(ns: number | undefined): string | undefined {
  return ns === undefined ? undefined : `${ns / 1e9}s`;
}

function short(digest: string): string {
  return digest.length > 19 ? `${digest.slice(0, 19)}…` : digest;
}

/** The readable summary of the facts. */
export function renderFacts(facts: ImageFacts, wanted?: Platform): string {
  const out: string[] = [];
  const row = (label: string, value: string | undefined) => {
    if (value !== undefined && value !== "") out.push(`${label.padEnd(12)} ${value}`);
  };
  const section = (title: string, items: string[], whenEmpty?: string) => {
    if (items.length === 0 && whenEmpty === undefined) return;
    out.push("", title);
    for (const item of items.length ? items : [whenEmpty!]) out.push(`  ${item}`);
  };
  const ref = facts.reference;
  const c = facts.config;
  row(
    "Image",
    `${safe(repositoryPath(ref))}${ref.tag ? `:${safe(ref.tag)}` : ""}${ref.digest ? `@${ref.digest}` : ""}`,
  );
  row("Source", facts.source);
  if (facts.digest) row("Digest", `${facts.digest}${facts.mediaType ? `  (${safe(facts.mediaType)})` : ""}`);
  if (facts.manifestDigest && facts.manifestDigest !== facts.digest)
    row(
      "Manifest",
      `${facts.manifestDigest}${facts.manifestMediaType ? `  (${safe(facts.manifestMediaType)})` : ""}`,
    );
  row("Config", facts.configDigest);
  if (facts.digest) row("Pinned", safe(pinnedReference(ref, facts.digest)));
  const offered =
    facts.platforms.length > 1
      ? `  (offered: ${facts.platforms.map((p) => safe(formatPlatform(p))).join(", ")})`
      : "";
  row("Platform", `${safe(formatPlatform(facts.platform))}${offered}`);
  if (wanted && facts.platforms.length > 1 && formatPlatform(wanted) !== formatPlatform(facts.platform))
    row("", `(asked for ${formatPlatform(wanted)})`);
  row("Created", c.created ? safe(c.created) : "(unknown)");
  row("Author", c.author ? safe(c.author) : undefined);
  row("User", c.user ? safe(c.user) : "(none: runs as root)");
  row("WorkingDir", safe(c.workingDir));
  row("Entrypoint", c.entrypoint ? safe(JSON.stringify(c.entrypoint)) : undefined);
  row("Cmd", c.cmd ? safe(JSON.stringify(c.cmd)) : undefined);
  row("StopSignal", c.stopSignal ? safe(c.stopSignal) : undefined);
  if (c.healthcheck) {
    const h = c.healthcheck;
    const timing = [
      seconds(h.intervalNs) && `interval ${seconds(h.intervalNs)}`,
      seconds(h.timeoutNs) && `timeout ${seconds(h.timeoutNs)}`,
      h.retries !== undefined && `retries ${h.retries}`,
    ].filter(Boolean);
    row("Healthcheck", `${safe(h.test.join(" "))}${timing.length ? `  (${timing.join(", ")})` : ""}`);
  } else row("Healthcheck", "(none)");
  row("Ports", c.exposedPorts.map(safe).join(", ") || "(none)");
  row("Volumes", c.volumes.map(safe).join(", ") || "(none)");
  if (facts.compressedSize !== undefined)
    row("Size", `${humanSize(facts.compressedSize)} compressed in ${facts.layers.length} layer(s)`);

  section(
    "Env",
    c.env.map((e) => safe(e)),
  );
  section(
    "Labels",
    Object.entries(c.labels).map(([k, v]) => `${safe(k)}=${safe(v)}`),
  );
  section(
    "Annotations",
    Object.entries(facts.annotations).map(([k, v]) => `${safe(k)}=${safe(v)}`),
  );
  section(
    "Index annotations",
    Object.entries(facts.indexAnnotations).map(([k, v]) => `${safe(k)}=${safe(v)}`),
  );
  section(
    `History (${facts.history.length} step${facts.history.length === 1 ? "" : "s"})`,
    facts.history.map((h, i) => {
      const when = h.created ? safe(h.created.slice(0, 10)) : "          ";
      const step = safe(h.createdBy).slice(0, 160);
      return `${String(i + 1).padStart(3)}  ${when}  ${h.emptyLayer ? "(no layer) " : ""}${step}`;
    }),
  );
  section(
    "Layers",
    facts.layers.map(
      (l) => `${l.digest}  ${humanSize(l.size).padStart(9)}${l.mediaType ? `  ${safe(l.mediaType)}` : ""}`,
    ),
  );
  const subject = (digest: string) =>
    digest === facts.digest ? "the index" : digest === facts.manifestDigest ? "the image" : short(digest);
  section(
    `Signatures (${facts.signatures.length})`,
    facts.signatures.map(
      (s) =>
        `${s.kind}  for ${subject(s.subjectDigest)}  via ${safe(s.foundVia)}  (${s.blobs.length} blob(s))`,
    ),
    "(none found)",
  );
  section(
    `Attestations (${facts.attestations.length})`,
    facts.attestations.map(
      (a) =>
        `${a.kind}  for ${subject(a.subjectDigest)}  via ${safe(a.foundVia)}${
          a.predicateTypes.length ? `  ${a.predicateTypes.map(safe).join(", ")}` : ""
        }`,
    ),
    "(none found)",
  );
  if (facts.notary)
    section("Notary (Docker Content Trust)", [
      facts.notary.error
        ? `${safe(facts.notary.server)}: ${facts.notary.error.code}: ${safe(facts.notary.error.message)}`
        : `${safe(facts.notary.server)}: trust data for ${safe(facts.notary.gun)} fetched`,
    ]);
  const info = facts.registryInfo;
  if (info?.rateLimit)
    section("Registry rate limit", [
      `limit ${safe(info.rateLimit.limit ?? "?")}, remaining ${safe(info.rateLimit.remaining ?? "?")}${
        info.rateLimit.source ? ` (for ${safe(info.rateLimit.source)})` : ""
      }`,
    ]);
  if (info?.tags)
    section(
      info.tagsTruncated
        ? `Tags (${info.tags.length}, truncated: the registry has more; only the first ${info.tags.length} are listed)`
        : `Tags (${info.tags.length})`,
      [info.tags.map((t) => safe(t)).join(" ")],
    );
  if (info?.tagDigest && info.tagDigest !== facts.digest)
    section("Tag", [`${safe(ref.tag ?? "")} now points to ${info.tagDigest}, not the pinned digest`]);
  section(
    "Incomplete",
    facts.incomplete.map((p) => `${p.part}: ${p.code}: ${safe(p.message)}`),
  );
  const kinds = Object.entries(facts.stats.byKind)
    .map(([k, n]) => `${k} ${n}`)
    .join(", ");
  out.push(
    "",
    `Gathered with ${facts.stats.requests} request(s), ${humanSize(facts.stats.bytes)}, in ${facts.stats.durationMs} ms${
      kinds ? ` (${kinds})` : ""
    }`,
  );
  return `${out.join("\n")}\n`;
}
