/**
 * "How to run it": a least-privilege `docker run` line and the same compose service, derived from
 * the image's config. Pure. What it cannot know (how much memory the app needs, which paths it
 * writes) it sets to a safe starting point and says so in a note.
 */
import type { ImageFacts } from "../facts/model.js";
import { isRootUser, isSensitiveVolume, normalizePath, splitEnv } from "./config.js";
import type { RunAdvice } from "./report.js";
import { scanAssignment } from "./secrets.js";

/** Starting points, each with why. */
export const RUN_DEFAULTS = {
  /** The unprivileged `nobody` user and group, present in nearly every base image. */
  user: "65534:65534",
  /** Enough for most services; small enough that a leak or a runaway process is contained. */
  memory: "512m",
  /** Far above what a service forks, far below what a fork bomb needs. */
  pidsLimit: 256,
  /** Scratch space most programs expect, not executable, bounded. */
  tmp: "/tmp:rw,noexec,nosuid,size=64m",
  /** Published ports listen on loopback only: exposing a service wider is a decision, not a default. */
  bindAddress: "127.0.0.1",
};

/** SSH: `config.ssh-port` tells the reader not to publish it, so the advice never does. */
const NEVER_PUBLISH = new Set([22]);

/** Beyond the sensitive volumes: the runtime directories that hold the Docker socket. */
const NEVER_MOUNT = new Set(["/var/run", "/run"]);

/** The hardened way to run this image, as a docker run line and a compose service. */
export function runAdvice(facts: ImageFacts, pinned: string): RunAdvice {
  const c = facts.config;
  const service = serviceName(facts.reference.repository);
  const notes: string[] = [];
  const args: string[] = ["docker", "run", "--rm"];
  const compose: Record<string, unknown> = { image: pinned };

  if (isRootUser(c.user)) {
    args.push("--user", RUN_DEFAULTS.user);
    compose.user = RUN_DEFAULTS.user;
    notes.push(
      `The image runs as root (${c.user.trim() === "" ? "no USER" : `USER ${c.user}`}); --user ${RUN_DEFAULTS.user} (nobody) runs it unprivileged. If it must write its own files, chown them to that user or use the uid the image documents.`,
    );
  }

  args.push("--read-only", "--tmpfs", RUN_DEFAULTS.tmp);
  compose.read_only = true;
  compose.tmpfs = [RUN_DEFAULTS.tmp];
  notes.push(
    "The root filesystem is read-only; if the app fails with 'read-only file system', add --tmpfs for that path (e.g. /run, /var/cache/<app>).",
  );

  const volumes: string[] = [];
  const named: Record<string, Record<string, never>> = {};
  for (const v of c.volumes) {
    const path = normalizePath(v);
    if (isSensitiveVolume(path) || NEVER_MOUNT.has(path)) {
      notes.push(
        `The image declares VOLUME ${path}: leave it unmounted; never bind the host's ${path} into a container.`,
      );
      continue;
    }
    const name = `${service}-${slug(path)}`;
    volumes.push(`${name}:${path}`);
    named[name] = {};
  }
  for (const v of volumes) args.push("-v", v);
  if (volumes.length) {
    compose.volumes = volumes;
    notes.push(
      `Declared volumes get named volumes (${Object.keys(named).join(", ")}) so their data survives and stays writable under --read-only.`,
    );
  }

  args.push(
    "--cap-drop=ALL",
    "--security-opt=no-new-privileges",
    `--memory=${RUN_DEFAULTS.memory}`,
    `--pids-limit=${RUN_DEFAULTS.pidsLimit}`,
  );
  compose.cap_drop = ["ALL"];
  compose.security_opt = ["no-new-privileges:true"];
  compose.mem_limit = RUN_DEFAULTS.memory;
  compose.pids_limit = RUN_DEFAULTS.pidsLimit;
  notes.push(
    `--memory=${RUN_DEFAULTS.memory} and --pids-limit=${RUN_DEFAULTS.pidsLimit} are starting points: raise them to what the app is measured to need.`,
  );

  const exposed = c.exposedPorts
    .map(portSpec)
    .filter((p): p is { port: number; proto: string } => p !== null);
  const ports = exposed.filter((p) => !NEVER_PUBLISH.has(p.port));
  if (ports.length < exposed.length)
    notes.push(
      "Port 22 (SSH) is not published: get a shell with docker exec instead, and leave any sshd in the image unreachable.",
    );
  const published = ports.map(
    (p) => `${RUN_DEFAULTS.bindAddress}:${p.port}:${p.port}${p.proto === "tcp" ? "" : `/${p.proto}`}`,
  );
  for (const p of published) args.push("-p", p);
  if (published.length) {
    compose.ports = published;
    notes.push(
      `Ports are published on ${RUN_DEFAULTS.bindAddress} only; put a reverse proxy in front, or publish on another address deliberately.`,
    );
    if (ports.some((p) => p.port < 1024))
      notes.push(
        "A port below 1024 needs no capability inside the container: Docker 20.10+ lets unprivileged processes bind it (net.ipv4.ip_unprivileged_port_start=0).",
      );
  }

  // The same rule as config.secret-env and config.credential: by name or by a value's format.
  const secretVars = [
    ...new Set(
      c.env
        .map(splitEnv)
        .filter(({ name, value }) => scanAssignment(name, value).length > 0)
        .map(({ name }) => name),
    ),
  ];
  if (secretVars.length) {
    args.push("--env-file", `./${service}.env`);
    compose.env_file = [`./${service}.env`];
    notes.push(
      `Give ${secretVars.join(", ")} through ./${service}.env (readable only by you), never as -e on the command line, and rotate any value baked into the image. Better still, mount the secret as a file and point a *_FILE variable at it when the image supports that.`,
    );
  } else {
    notes.push(
      "Pass secrets as files (--env-file, or a mounted file read through a *_FILE variable), never with -e on the command line.",
    );
  }

  if (!c.healthcheck || c.healthcheck.test[0] === "NONE" || c.healthcheck.test.length === 0) {
    notes.push(
      "The image has no HEALTHCHECK: add --health-cmd with a command that probes the service (and healthcheck: in compose).",
    );
  }
  notes.push(
    "Do not mount /var/run/docker.sock or run with --privileged: either gives the container root on the host.",
  );

  args.push(pinned);
  const doc: Record<string, unknown> = { services: { [service]: compose } };
  if (Object.keys(named).length) doc.volumes = named;
  return {
    dockerRun: formatCommand(args),
    // Quoted strings: YAML 1.1 readers take an unquoted 65534:65534 for a base-60 number.
    compose: composeYaml(doc),
    notes,
  };
}

/** `80/tcp` -> { 80, tcp }; ranges and malformed specs are left to the user. */
function portSpec(spec: string): { port: number; proto: string } | null {
  const m = /^(\d+)(?:\/(tcp|udp|sctp))?$/.exec(spec.trim());
  if (!m) return null;
  const port = Number(m[1]);
  return port > 0 && port < 65536 ? { port, proto: m[2] ?? "tcp" } : null;
}

/** A compose service name from the repository's last segment. */
function serviceName(repository: string): string {
  const last = repository.slice(repository.lastIndexOf("/") + 1);
  const s = last
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, "-")
    .replace(/^-+|-+$/g, "");
  return s || "app";
}

function slug(path: string): string {
  return (
    path
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-+|-+$/g, "") || "data"
  );
}

/** Quote a word for a POSIX shell when it needs it. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** `docker run` with one option (and its value) per line, for reading and pasting. */
function formatCommand(args: string[]): string {
  const lines: string[] = [args.slice(0, 3).map(shellQuote).join(" ")];
  let i = 3;
  while (i < args.length - 1) {
    const a = args[i]!;
    const takesValue = /^(?:--user|--tmpfs|-v|-p|--env-file)$/.test(a);
    lines.push(takesValue ? `${a} ${shellQuote(args[i + 1]!)}` : shellQuote(a));
    i += takesValue ? 2 : 1;
  }
  lines.push(shellQuote(args[args.length - 1]!));
  return lines.join(" \\\n  ");
}

/**
 * The compose snippet as YAML. Its shape is fixed (maps of maps, lists of strings, strings,
 * numbers, booleans), so it is written here rather than by the yaml package, which every check
 * would otherwise load (a tenth of the CLI's start-up) for a few lines. Every string is
 * double-quoted with JSON's escapes, which YAML's double-quoted style shares
 * (https://yaml.org/spec/1.2.2/#double-quoted-style): image text cannot break out of its value,
 * and YAML 1.1 readers do not take 65534:65534 for a base-60 number.
 */
export function composeYaml(value: Record<string, unknown>, indent = ""): string {
  let out = "";
  for (const [key, v] of Object.entries(value)) {
    const k = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(key) ? key : JSON.stringify(key);
    if (Array.isArray(v)) {
      out += v.length === 0 ? `${indent}${k}: []\n` : `${indent}${k}:\n`;
      for (const item of v) out += `${indent}  - ${yamlScalar(item)}\n`;
    } else if (v !== null && typeof v === "object") {
      const entries = Object.keys(v);
      out +=
        entries.length === 0
          ? `${indent}${k}: {}\n`
          : `${indent}${k}:\n${composeYaml(v as Record<string, unknown>, `${indent}  `)}`;
    } else out += `${indent}${k}: ${yamlScalar(v)}\n`;
  }
  return out;
}

function yamlScalar(v: unknown): string {
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return JSON.stringify(String(v));
}
