// The test environment that `npm test` brings up by itself (from test/support/global-setup.ts)
// and `npm run bench` brings up with startTestbed(): three loopback registries (no auth, Basic
// auth, token auth with our own token issuer), a private dockerd when we can run one, and skopeo.
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { inject } from "vitest";
import { type DockerdProcess, startDockerd } from "./dockerd.js";
import { type PostgresServer, startPostgresProcess } from "./postgres-process.js";
import { ensureTools, isRoot, TOOLS, which } from "./processes.js";
import { type RegistryAuthConfig, startRegistryProcess } from "./registry-process.js";
import { startTokenIssuer, type TokenIssuer } from "./token-issuer.js";

const run = promisify(execFile);

/** One registry of the testbed, as a client sees it. */
export interface RegistryEndpoint {
  /** "127.0.0.1:PORT" */
  host: string;
  /** "http://127.0.0.1:PORT" */
  url: string;
  auth: "none" | "basic" | "token";
  username?: string;
  password?: string;
  /** The token issuer's realm (token auth only). */
  tokenRealm?: string;
}

/** Everything the global setup started, handed to tests through vitest's provide/inject. */
export interface Testbed {
  open: RegistryEndpoint;
  basic: RegistryEndpoint;
  token: RegistryEndpoint;
  /** Base URL of the token issuer; GET `${tokenIssuerUrl}/stats` counts the token requests served. */
  tokenIssuerUrl: string;
  dockerd: { socket: string; dockerHost: string } | null;
  /** Why dockerd is null. */
  dockerdError?: string;
  /** Absolute path of the skopeo binary. */
  skopeo: string;
  /** PostgreSQL 15; tests make a database of their own with `createDatabase()` (postgres.ts). */
  postgres: PostgresServer;
  tmpDir: string;
}

declare module "vitest" {
  interface ProvidedContext {
    testbed: Testbed;
  }
}

/** Credentials of the Basic-auth registry. */
export const BASIC_USER = { username: "alice", password: "wonderland" } as const;
/** Credentials the token issuer accepts (push and pull on any repository). */
export const TOKEN_USER = { username: "bob", password: "builder" } as const;
/** Repositories under this prefix may be pulled anonymously from the token registry. */
export const TOKEN_PUBLIC_PREFIX = "public/";
/** `service` and `iss` of the token registry's JWTs. */
export const TOKEN_SERVICE = "image-check-testbed";
export const TOKEN_ISSUER = "image-check-testbed-issuer";

/** The testbed started by the global setup. Only callable inside a vitest test file. */
export function getTestbed(): Testbed {
  const testbed = inject("testbed");
  if (testbed === undefined)
    throw new Error(
      "testbed: not provided; a test that needs the registries or dockerd must be named *.int.test.ts (the integration project)",
    );
  return testbed;
}

/** The private dockerd, or a clear error saying why there is none. */
export function requireDockerd(): { socket: string; dockerHost: string } {
  const { dockerd, dockerdError } = getTestbed();
  if (dockerd === null) {
    throw new Error(
      `testbed: this test needs the private dockerd, which did not start: ${dockerdError ?? "unknown reason"}`,
    );
  }
  return dockerd;
}

function newTmpDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

async function writeHtpasswd(htpasswdBin: string, file: string): Promise<void> {
  const { stdout } = await run(htpasswdBin, ["-Bbn", BASIC_USER.username, BASIC_USER.password]);
  writeFileSync(file, stdout.trim() + "\n");
}

/** A self-signed P-256 certificate for the token issuer; the registry trusts it as its root bundle. */
async function makeTokenCert(
  opensslBin: string,
  dir: string,
): Promise<{ certFile: string; keyFile: string }> {
  const certFile = join(dir, "token-cert.pem");
  const keyFile = join(dir, "token-key.pem");
  await run(opensslBin, [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    keyFile,
    "-out",
    certFile,
    "-days",
    "3650",
    "-subj",
    "/CN=image-check-testbed-token-issuer",
  ]);
  return { certFile, keyFile };
}

/** Starts a token issuer with a fresh certificate, and the registry auth config that trusts it. */
async function startTokenAuth(
  opensslBin: string,
  dir: string,
  expiresIn?: number,
): Promise<{ issuer: TokenIssuer; auth: RegistryAuthConfig }> {
  const cert = await makeTokenCert(opensslBin, dir);
  const issuer = await startTokenIssuer({
    certPem: readFileSync(cert.certFile, "utf8"),
    keyPem: readFileSync(cert.keyFile, "utf8"),
    issuer: TOKEN_ISSUER,
    service: TOKEN_SERVICE,
    users: { [TOKEN_USER.username]: TOKEN_USER.password },
    publicPrefix: TOKEN_PUBLIC_PREFIX,
    ...(expiresIn !== undefined ? { expiresIn } : {}),
  });
  const auth: RegistryAuthConfig = {
    kind: "token",
    realm: issuer.realm,
    service: TOKEN_SERVICE,
    issuer: TOKEN_ISSUER,
    rootCertBundle: cert.certFile,
  };
  return { issuer, auth };
}

/** Options of startRegistry. */
export interface StartRegistryOptions {
  /** Default "none"; "basic" uses alice/wonderland, "token" a token issuer of its own (bob/builder). */
  auth?: "none" | "basic" | "token";
  /** Lifetime of the tokens of a "token" registry, in seconds (default 300). */
  tokenExpiresIn?: number;
}

/**
 * Starts a private registry for one test file (for tests that delete or break things, or need
 * short-lived tokens). The caller stops it, normally in afterAll.
 */
export async function startRegistry(
  opts: StartRegistryOptions = {},
): Promise<{ endpoint: RegistryEndpoint; tokenIssuerUrl?: string; stop(): Promise<void> }> {
  const auth = opts.auth ?? "none";
  const tools = ensureTools({ registry: TOOLS.registry, htpasswd: TOOLS.htpasswd, openssl: TOOLS.openssl });
  const dir = newTmpDir("image-check-registry-");
  let issuer: TokenIssuer | null = null;
  try {
    let config: RegistryAuthConfig = { kind: "none" };
    if (auth === "basic") {
      config = { kind: "basic", htpasswdFile: join(dir, "htpasswd") };
      await writeHtpasswd(tools.paths.htpasswd, config.htpasswdFile);
    } else if (auth === "token") {
      ({ issuer, auth: config } = await startTokenAuth(tools.paths.openssl, dir, opts.tokenExpiresIn));
    }
    const proc = await startRegistryProcess(tools.paths.registry, join(dir, "registry"), config);
    const credentials = auth === "basic" ? BASIC_USER : auth === "token" ? TOKEN_USER : {};
    const endpoint: RegistryEndpoint = {
      host: proc.host,
      url: proc.url,
      auth,
      ...credentials,
      ...(issuer ? { tokenRealm: issuer.realm } : {}),
    };
    const tokenIssuer = issuer;
    return {
      endpoint,
      ...(tokenIssuer ? { tokenIssuerUrl: tokenIssuer.url } : {}),
      stop: async () => {
        await Promise.all([proc.stop(), tokenIssuer?.stop()]);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await issuer?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Options of startTestbed. */
export interface StartTestbedOptions {
  /** Skip dockerd entirely (dockerd: null); default false. */
  withoutDockerd?: boolean;
  /** Called with one line per notable event (e.g. dockerd unavailable). Default: stderr. */
  log?: (line: string) => void;
}

/**
 * Starts the whole testbed: installs missing Debian packages (as root), then the token issuer,
 * the three registries and dockerd, concurrently. Usable outside vitest (the benchmark).
 * If anything required fails, whatever did start is stopped before the error is thrown.
 */
export async function startTestbed(
  opts: StartTestbedOptions = {},
): Promise<{ testbed: Testbed; stop(): Promise<void>; startupMs: number }> {
  const began = performance.now();
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const tools = ensureTools(
    {
      registry: TOOLS.registry,
      skopeo: TOOLS.skopeo,
      htpasswd: TOOLS.htpasswd,
      openssl: TOOLS.openssl,
      initdb: TOOLS.initdb,
      postgres: TOOLS.postgres,
    },
    {
      setpriv: TOOLS.setpriv,
      ...(opts.withoutDockerd
        ? {}
        : { dockerd: TOOLS.dockerd, docker: TOOLS.docker, busybox: TOOLS.busybox }),
    },
  );
  const tmpDir = newTmpDir("image-check-testbed-");
  const stops: (() => Promise<void>)[] = [];
  const stopServices = async (): Promise<void> => {
    await Promise.allSettled(stops.splice(0).map((s) => s()));
  };
  const stopAll = async (): Promise<void> => {
    await stopServices();
    rmSync(tmpDir, { recursive: true, force: true });
  };

  try {
    const authDir = join(tmpDir, "auth");
    mkdirSync(authDir);
    const htpasswdFile = join(authDir, "htpasswd");
    const [, tokenAuth] = await Promise.all([
      writeHtpasswd(tools.paths.htpasswd, htpasswdFile),
      startTokenAuth(tools.paths.openssl, authDir),
    ]);
    const { issuer } = tokenAuth;
    stops.push(issuer.stop);

    const dockerdBin = tools.optional.dockerd ?? null;
    const dockerdPromise: Promise<DockerdProcess | string> = opts.withoutDockerd
      ? Promise.resolve("disabled by the caller (withoutDockerd)")
      : dockerdBin === null
        ? Promise.resolve(`dockerd not installed; run as root: apt-get install -y ${TOOLS.dockerd.pkg}`)
        : !isRoot()
          ? Promise.resolve("dockerd needs root and this process is not root")
          : startDockerd(dockerdBin, join(tmpDir, "dockerd")).catch((err: unknown) =>
              err instanceof Error ? err.message : String(err),
            );

    const started = await Promise.allSettled([
      startRegistryProcess(tools.paths.registry, join(tmpDir, "open"), { kind: "none" }),
      startRegistryProcess(tools.paths.registry, join(tmpDir, "basic"), { kind: "basic", htpasswdFile }),
      startRegistryProcess(tools.paths.registry, join(tmpDir, "token"), tokenAuth.auth),
      dockerdPromise,
      startPostgresProcess({
        initdb: tools.paths.initdb,
        postgres: tools.paths.postgres,
        setpriv: tools.optional.setpriv ?? null,
      }),
    ]);
    for (const s of started) {
      if (s.status === "fulfilled" && typeof s.value === "object") stops.push(s.value.stop);
    }
    const failed = started.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed !== undefined) throw failed.reason;
    const [open, basic, token, dockerd, postgres] = started.map(
      (s) => (s as PromiseFulfilledResult<unknown>).value,
    ) as [
      Awaited<ReturnType<typeof startRegistryProcess>>,
      Awaited<ReturnType<typeof startRegistryProcess>>,
      Awaited<ReturnType<typeof startRegistryProcess>>,
      DockerdProcess | string,
      Awaited<ReturnType<typeof startPostgresProcess>>,
    ];
    if (typeof dockerd === "string")
      log(`testbed: no private dockerd (tests that need it will fail): ${dockerd}`);

    const testbed: Testbed = {
      open: { host: open.host, url: open.url, auth: "none" },
      basic: { host: basic.host, url: basic.url, auth: "basic", ...BASIC_USER },
      token: { host: token.host, url: token.url, auth: "token", ...TOKEN_USER, tokenRealm: issuer.realm },
      tokenIssuerUrl: issuer.url,
      dockerd:
        typeof dockerd === "string" ? null : { socket: dockerd.socket, dockerHost: dockerd.dockerHost },
      ...(typeof dockerd === "string" ? { dockerdError: dockerd } : {}),
      skopeo: tools.paths.skopeo,
      postgres: { adminUrl: postgres.adminUrl, host: postgres.host, dir: postgres.dir },
      tmpDir,
    };
    return { testbed, stop: stopAll, startupMs: Math.round(performance.now() - began) };
  } catch (err) {
    // Keep tmpDir: the error names the log files in it.
    await stopServices();
    throw err;
  }
}

/** Path of the docker CLI, or null (the testbed's own dockerd test uses it). */
export function dockerCli(): string | null {
  return which(TOOLS.docker.bin);
}
