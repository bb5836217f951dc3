/**
 * Config checks: how the image is set up to run (contract ids `config.*`). Pure.
 */
import { posix } from "node:path";
import { finding, listing, plural } from "./finding.js";
import {
  describeCredential,
  describeKind,
  hasAwsKeyPair,
  liveCredentials,
  masked,
  scanAssignment,
} from "./secrets.js";
import type { Check, Finding } from "./types.js";

/** True for a config user that means root: empty, `root`, `0`, `0:<group>`, `root:<group>`. */
export function isRootUser(user: string): boolean {
  const u = user.trim();
  return u === "" || /^(?:root|0)(?::.*)?$/.test(u);
}

/** Mount points that hand the container the host, its devices or the Docker engine. */
const SENSITIVE_VOLUMES = new Set([
  "/",
  "/proc",
  "/sys",
  "/dev",
  "/etc",
  "/var/run/docker.sock",
  "/run/docker.sock",
]);

/** True for a volume path where the host's system, devices or Docker engine would be mounted. */
export function isSensitiveVolume(path: string): boolean {
  return SENSITIVE_VOLUMES.has(normalizePath(path));
}

/** 1 MB as `maxSizeMB` counts it: 10^6 bytes, the unit docker and registries display. */
const MB = 1_000_000;

/** `NAME=value` split at the first `=`. */
export function splitEnv(entry: string): { name: string; value: string } {
  const eq = entry.indexOf("=");
  return eq === -1 ? { name: entry, value: "" } : { name: entry.slice(0, eq), value: entry.slice(eq + 1) };
}

/** Every config check. */
export const configChecks: Check = (facts, ctx) => {
  const c = facts.config;
  const out: Finding[] = [];

  if (isRootUser(c.user)) {
    out.push(
      finding(
        "config.root-user",
        "The image runs as root",
        `Expected a non-root USER; got ${c.user.trim() === "" ? "no USER (so root)" : `\`${c.user}\``}. A process that is compromised then has root in the container, one kernel bug away from the host. Run it with a non-root --user (see "how to run it") and ask the publisher for a non-root image.`,
        { user: c.user },
      ),
    );
  }

  const envSecrets = c.env.map((entry) => {
    const { name, value } = splitEnv(entry);
    return { name, secrets: scanAssignment(name, value) };
  });
  // An AWS key id is live with its secret, which may sit in another variable of the same env.
  const awsPair = hasAwsKeyPair(envSecrets.flatMap((e) => e.secrets));
  for (const { name, secrets } of envSecrets) {
    if (secrets.length === 0) continue;
    const shown = masked(secrets);
    const live = liveCredentials(secrets, awsPair);
    if (live.length) {
      out.push(
        finding(
          "config.credential",
          `The environment variable ${name} holds ${describeCredential(live[0]!)}`,
          `Expected no credentials baked into the image's environment; ${name} holds ${describeCredential(live[0]!)} in a format its service issues for real use (${shown.map((s) => s.value).join(", ")}), and everyone who pulls the image can read it with docker inspect. Revoke it now, remove it from the image, and pass it at run time from a file (--env-file, or ${name}_FILE set to the path of a mounted secret, when the image reads one).`,
          { env: name, secrets: shown },
        ),
      );
      continue;
    }
    out.push(
      finding(
        "config.secret-env",
        `The environment variable ${name} holds ${secrets[0]!.kind === "secret-name" ? "a secret" : describeKind(secrets[0]!.kind)}`,
        `Expected no credentials baked into the image's environment (everyone who pulls it can read them with docker inspect); ${name} is ${shown.map((s) => s.value).join(", ")}. Rotate it, remove it from the image, and pass it at run time from a file (--env-file, or ${name}_FILE set to the path of a mounted secret, when the image reads one).`,
        { env: name, secrets: shown },
      ),
    );
  }

  const ssh = c.exposedPorts.filter((p) => exposesPort(p, 22));
  if (ssh.length) {
    out.push(
      finding(
        "config.ssh-port",
        "The image exposes the SSH port 22",
        `Expected no SSH server in a container (use docker exec to get in); the image exposes ${listing(ssh)}. An sshd in the image is another way in with its own credentials to manage: remove it, or do not publish the port.`,
        { exposedPorts: ssh },
      ),
    );
  }

  const sensitive = c.volumes.filter(isSensitiveVolume);
  if (sensitive.length) {
    out.push(
      finding(
        "config.sensitive-volume",
        `The image declares a volume at ${listing(sensitive)}`,
        `Expected volumes for the app's own data only; the image declares ${listing(sensitive)}, a place where the host's system, devices or the Docker engine would be mounted. Whoever runs it is invited to bind the host there: never do, and ask the publisher why it is declared.`,
        { volumes: sensitive },
      ),
    );
  }

  const hc = c.healthcheck;
  if (!hc || hc.test.length === 0 || hc.test[0] === "NONE") {
    out.push(
      finding(
        "config.no-healthcheck",
        "The image has no HEALTHCHECK",
        `Expected a HEALTHCHECK so that the runtime knows when the service is stuck; ${hc?.test[0] === "NONE" ? "the image turns health checks off (NONE)" : "the image defines none"}. Add one when running it (--health-cmd, or healthcheck: in compose).`,
        { healthcheck: hc ? hc.test : null },
      ),
    );
  }

  const size = facts.compressedSize;
  const limit = ctx.policy.maxSizeMB;
  if (size !== undefined && size > limit * MB) {
    const mb = Math.round(size / MB);
    out.push(
      finding(
        "config.large-image",
        `The image is ${mb} MB compressed (the policy allows ${limit} MB)`,
        `Expected at most ${limit} MB compressed; got ${mb} MB over ${plural(facts.layers.length, "layer")}. Large images are slow to pull and usually ship build tools and caches an attacker can use: prefer a slim or distroless variant, or a multi-stage build.`,
        { compressedSize: size, compressedMB: mb, maxSizeMB: limit, layers: facts.layers.length },
      ),
    );
  }
  return out;
};

/** `22/tcp`, `22`, `20-25/tcp` expose port 22. */
function exposesPort(spec: string, port: number): boolean {
  const m = /^(\d+)(?:-(\d+))?(?:\/\w+)?$/.exec(spec.trim());
  if (!m) return false;
  const lo = Number(m[1]);
  const hi = m[2] ? Number(m[2]) : lo;
  return port >= lo && port <= hi;
}

/** `/etc/`, `//etc`, `/var/run/../run/docker.sock` compare as the paths they are. */
export function normalizePath(p: string): string {
  const n = posix.normalize(p.trim());
  return n.length > 1 ? n.replace(/\/+$/, "") : n;
}
