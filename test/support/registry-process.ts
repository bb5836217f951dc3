// Runs Debian's `docker-registry serve CONFIG` (distribution 2.8) on a loopback port.
// Configuration reference: https://distribution.github.io/distribution/about/configuration/
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, type Managed, spawnManaged, waitUntil } from "./processes.js";

/** How the registry authenticates clients. */
export type RegistryAuthConfig =
  | { kind: "none" }
  | { kind: "basic"; htpasswdFile: string }
  | { kind: "token"; realm: string; service: string; issuer: string; rootCertBundle: string };

/** A running registry process. */
export interface RegistryProcess {
  host: string;
  url: string;
  managed: Managed;
  stop(): Promise<void>;
}

// A few tries because the port is chosen before the registry binds it and another process on the
// machine may grab it in between.
const BIND_ATTEMPTS = 4;
const READY_TIMEOUT_MS = 20_000;

function authSection(auth: RegistryAuthConfig): Record<string, unknown> | undefined {
  switch (auth.kind) {
    case "none":
      return undefined;
    case "basic":
      return { htpasswd: { realm: "image-check-testbed", path: auth.htpasswdFile } };
    case "token":
      return {
        token: {
          realm: auth.realm,
          service: auth.service,
          issuer: auth.issuer,
          rootcertbundle: auth.rootCertBundle,
        },
      };
  }
}

/** Starts a registry whose storage, config and log live in `dir`; resolves once /v2/ answers. */
export async function startRegistryProcess(
  registryBin: string,
  dir: string,
  auth: RegistryAuthConfig,
): Promise<RegistryProcess> {
  mkdirSync(dir, { recursive: true });
  let lastError: unknown;
  for (let attempt = 0; attempt < BIND_ATTEMPTS; attempt++) {
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const config = {
      version: 0.1,
      log: { level: "info", formatter: "text", accesslog: { disabled: false } },
      storage: {
        filesystem: { rootdirectory: join(dir, "data") },
        delete: { enabled: true },
        // The purger only wastes a goroutine in a short-lived test registry.
        maintenance: { uploadpurging: { enabled: false } },
      },
      http: { addr: host, secret: randomBytes(16).toString("hex") },
      health: { storagedriver: { enabled: false } },
      ...(authSection(auth) ? { auth: authSection(auth) } : {}),
    };
    // JSON is valid YAML, which is what the registry reads.
    const configFile = join(dir, "config.yml");
    writeFileSync(configFile, JSON.stringify(config, null, 2));
    const managed = spawnManaged(registryBin, ["serve", configFile], join(dir, "registry.log"));
    const url = `http://${host}`;
    try {
      await waitUntil(
        async () => {
          const res = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1000) });
          await res.arrayBuffer();
          return true;
        },
        managed,
        READY_TIMEOUT_MS,
        `docker-registry (${auth.kind}) on ${host}`,
      );
      return { host, url, managed, stop: () => managed.stop(5000) };
    } catch (err) {
      lastError = err;
      await managed.stop(1000);
      if (!/address already in use/.test(managed.tail(20))) break;
    }
  }
  throw lastError;
}
