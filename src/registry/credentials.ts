/**
 * Registry credentials from Docker's `config.json`: `auths` (base64 `user:pass` or an
 * `identitytoken`), `credsStore` and `credHelpers` through the docker-credential-helpers protocol
 * (https://github.com/docker/docker-credential-helpers#development: `<helper> get`, the server URL
 * on stdin, `{"ServerURL","Username","Secret"}` on stdout).
 *
 * The folder and the environment are passed in; nothing here reads process.env.
 */
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { RegistryError } from "./errors.js";

/** Credentials for one registry. */
export interface Credential {
  username?: string;
  password?: string;
  /** An OAuth2 refresh token (`identitytoken`, or a helper answering Username `<token>`). */
  identityToken?: string;
}

/** Looks up credentials by registry host (`docker.io`, `ghcr.io`, `127.0.0.1:5000`). */
export interface CredentialStore {
  get(registry: string): Promise<Credential | undefined>;
}

/** Credentials given directly (tests, or a caller that has them already). */
export function staticCredentials(byRegistry: Record<string, Credential>): CredentialStore {
  return { get: async (registry) => byRegistry[registry] };
}

/** No credentials at all: every request is anonymous. */
export const anonymousCredentials: CredentialStore = { get: async () => undefined };

/** Defaults, with why. */
export const CREDENTIAL_DEFAULTS = {
  /** A helper that talks to a keychain answers in milliseconds; one that hangs must not hang a check. */
  helperTimeoutMs: 10_000,
  /** A helper's answer is one small JSON object. */
  helperOutputBytes: 64 * 1024,
};

/** Docker's key for Docker Hub in config.json and for credential helpers. */
export const DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/";

interface DockerConfigFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

/**
 * The host a config.json key names: Docker stores keys as bare hosts or as URLs
 * (`https://index.docker.io/v1/`, `http://host:5000/v2/`), see docker/cli's ConvertToHostname.
 */
function keyHost(key: string): string {
  let host = key.replace(/^https?:\/\//, "");
  host = host.split("/")[0] ?? host;
  host = host.toLowerCase();
  return host === "index.docker.io" || host === "registry-1.docker.io" ? "docker.io" : host;
}

/** The server URL Docker uses for a registry, in config.json keys and when asking helpers. */
export function serverUrlFor(registry: string): string {
  return registry === "docker.io" ? DOCKER_HUB_AUTH_KEY : registry;
}

/** Options of the docker config store. */
export interface DockerConfigOptions {
  /** The DOCKER_CONFIG folder (holding config.json). */
  configDir: string;
  /** Environment for credential helpers (PATH finds them; HOME and the like let them reach their keychain). */
  env: NodeJS.ProcessEnv;
  helperTimeoutMs?: number;
}

/**
 * Credentials as the docker CLI would use them. A missing config.json means anonymous. Results
 * are remembered per registry, so a helper runs once per registry per store.
 */
export function dockerConfigCredentials(options: DockerConfigOptions): CredentialStore {
  let config: Promise<DockerConfigFile> | undefined;
  const cache = new Map<string, Promise<Credential | undefined>>();
  const loadConfig = () => {
    config ??= readDockerConfig(join(options.configDir, "config.json"));
    return config;
  };
  return {
    get(registry) {
      let found = cache.get(registry);
      if (!found) {
        found = loadConfig().then((c) => lookup(c, registry, options));
        cache.set(registry, found);
      }
      return found;
    },
  };
}

async function readDockerConfig(path: string): Promise<DockerConfigFile> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw new RegistryError("CREDENTIALS", `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    return parsed && typeof parsed === "object" ? (parsed as DockerConfigFile) : {};
  } catch (err) {
    throw new RegistryError("CREDENTIALS", `${path} is not valid JSON`, { cause: err });
  }
}

async function lookup(
  config: DockerConfigFile,
  registry: string,
  options: DockerConfigOptions,
): Promise<Credential | undefined> {
  // Docker's order: a per-registry helper, then the default store, then inline auths.
  const helper = config.credHelpers?.[serverUrlFor(registry)] ?? config.credHelpers?.[registry];
  if (helper) return runHelper(helper, serverUrlFor(registry), options);
  if (config.credsStore) {
    const fromStore = await runHelper(config.credsStore, serverUrlFor(registry), options);
    if (fromStore) return fromStore;
  }
  for (const [key, entry] of Object.entries(config.auths ?? {})) {
    if (keyHost(key) !== registry || !entry) continue;
    if (entry.identitytoken) return { identityToken: entry.identitytoken };
    if (entry.auth) {
      const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
      const colon = decoded.indexOf(":");
      if (colon === -1)
        throw new RegistryError(
          "CREDENTIALS",
          `config.json: the auth entry for ${key} is not base64 user:password`,
        );
      return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    }
    if (entry.username && entry.password) return { username: entry.username, password: entry.password };
  }
  return undefined;
}

/** Ask `docker-credential-<name> get` for the server's credentials; undefined when it has none. */
export function runHelper(
  name: string,
  serverUrl: string,
  options: DockerConfigOptions,
): Promise<Credential | undefined> {
  if (!/^[A-Za-z0-9._-]+$/.test(name))
    return Promise.reject(
      new RegistryError("CREDENTIALS", `credential helper name "${name}" is not a plain name`),
    );
  const program = `docker-credential-${name}`;
  const timeoutMs = options.helperTimeoutMs ?? CREDENTIAL_DEFAULTS.helperTimeoutMs;
  return new Promise((resolve, reject) => {
    const child = spawn(program, ["get"], { env: options.env, stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    let settled = false;
    const done = (error: Error | null, value?: Credential) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) reject(error);
      else resolve(value);
    };
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      done(new RegistryError("CREDENTIALS", `${program} did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const collect = (into: "out" | "err") => (chunk: Buffer) => {
      if (into === "out") out += chunk.toString("utf8");
      else err += chunk.toString("utf8");
      if (out.length + err.length > CREDENTIAL_DEFAULTS.helperOutputBytes) {
        child.kill("SIGKILL");
        done(
          new RegistryError(
            "CREDENTIALS",
            `${program} wrote more than ${CREDENTIAL_DEFAULTS.helperOutputBytes} bytes`,
          ),
        );
      }
    };
    child.stdout.on("data", collect("out"));
    child.stderr.on("data", collect("err"));
    child.on("error", (e: NodeJS.ErrnoException) =>
      done(new RegistryError("CREDENTIALS", `cannot run ${program}: ${e.code ?? e.message}`, { cause: e })),
    );
    child.on("close", (code) => {
      if (code !== 0) {
        // The protocol's "not found" answer means anonymous, not failure.
        if (/credentials not found/i.test(out + err)) return done(null, undefined);
        const said = (out + err).replace(/\s+/g, " ").trim().slice(0, 200);
        return done(
          new RegistryError("CREDENTIALS", `${program} get failed (exit ${code})${said ? `: ${said}` : ""}`),
        );
      }
      try {
        const answer = JSON.parse(out) as { Username?: unknown; Secret?: unknown };
        const username = typeof answer.Username === "string" ? answer.Username : "";
        const secret = typeof answer.Secret === "string" ? answer.Secret : "";
        if (!secret) return done(null, undefined);
        // docker-credential-helpers: Username "<token>" marks an identity (refresh) token.
        done(null, username === "<token>" ? { identityToken: secret } : { username, password: secret });
      } catch (e) {
        done(new RegistryError("CREDENTIALS", `${program} get did not answer JSON`, { cause: e }));
      }
    });
    child.stdin.on("error", () => {
      // The helper may exit before reading stdin; its exit status tells what happened.
    });
    child.stdin.end(serverUrl);
  });
}
