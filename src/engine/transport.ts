/**
 * The one place that touches dockerode: a GET-only JSON transport over docker-modem. EngineSource
 * speaks only EngineTransport, so tests can replay answers recorded from a real dockerd and no
 * dockerode type leaves this module.
 */
import Docker from "dockerode";
import { EngineError } from "./errors.js";

/** An HTTP answer from the engine other than 200, with the engine's own message (`{"message": ...}`). */
export class EngineHttpError extends Error {
  constructor(
    readonly status: number,
    readonly engineMessage: string,
  ) {
    super(`engine answered HTTP ${status}: ${engineMessage}`);
    this.name = "EngineHttpError";
  }
}

/**
 * GET requests against the Docker Engine API (https://docs.docker.com/reference/api/engine/).
 * `get` resolves with the parsed JSON body of a 200 answer and rejects with EngineHttpError for any
 * other status, with a Node system error (`code` such as ECONNREFUSED) when the engine cannot be
 * reached, or with an AbortError when `signal` fires.
 */
export interface EngineTransport {
  get(path: string, options: { query?: Record<string, string>; signal?: AbortSignal }): Promise<unknown>;
}

/** Where the engine listens, parsed from DOCKER_HOST. */
export type EngineEndpoint =
  | { kind: "unix"; socketPath: string }
  | { kind: "tcp"; host: string; port: number };

/** The engine's default socket on Linux (what the docker CLI uses when DOCKER_HOST is unset). */
export const DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock";
/** The engine's conventional plain-HTTP port (2376 is its TLS port, which needs client certificates). */
const DEFAULT_TCP_PORT = 2375;

/**
 * Parse a DOCKER_HOST value: `unix:///path` or `tcp://host[:port]`; unset means the default
 * socket. Other schemes (`ssh://`, `npipe://`, `fd://`) and TLS are not supported here: they fail
 * with ENGINE_UNAVAILABLE naming the value, rather than silently talking to another engine.
 */
export function parseDockerHost(dockerHost: string | undefined): EngineEndpoint {
  const value = dockerHost?.trim();
  if (!value) return { kind: "unix", socketPath: DEFAULT_DOCKER_SOCKET };
  if (value.startsWith("unix://")) {
    return { kind: "unix", socketPath: value.slice("unix://".length) || DEFAULT_DOCKER_SOCKET };
  }
  if (value.startsWith("tcp://")) {
    let url: URL;
    try {
      url = new URL(`http://${value.slice("tcp://".length)}`);
    } catch (cause) {
      throw new EngineError(
        "ENGINE_UNAVAILABLE",
        `DOCKER_HOST "${value}" is not a valid tcp://host:port address`,
        { cause },
      );
    }
    if (url.pathname !== "/" || url.search || url.username) {
      throw new EngineError(
        "ENGINE_UNAVAILABLE",
        `DOCKER_HOST "${value}" must be tcp://host:port with nothing after the port`,
      );
    }
    const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
    return { kind: "tcp", host, port: url.port ? Number(url.port) : DEFAULT_TCP_PORT };
  }
  throw new EngineError(
    "ENGINE_UNAVAILABLE",
    `DOCKER_HOST "${value}" is not supported: use unix:///path/to/docker.sock or tcp://host:port`,
  );
}

/** An endpoint as DOCKER_HOST spells it (`unix:///var/run/docker.sock`, `tcp://127.0.0.1:2375`), for messages. */
export function endpointText(endpoint: EngineEndpoint): string {
  if (endpoint.kind === "unix") return `unix://${endpoint.socketPath}`;
  const host = endpoint.host.includes(":") ? `[${endpoint.host}]` : endpoint.host;
  return `tcp://${host}:${endpoint.port}`;
}

/** The transport over dockerode's modem, for an engine at `endpoint`. */
export function dockerodeTransport(endpoint: EngineEndpoint): EngineTransport {
  // Every connection field is given explicitly: docker-modem otherwise fills gaps from
  // process.env (DOCKER_HOST, DOCKER_CERT_PATH, DOCKER_TLS_VERIFY), and the caller's config is
  // the only source of truth here.
  const connection =
    endpoint.kind === "unix"
      ? { socketPath: endpoint.socketPath, host: undefined, port: undefined }
      : { socketPath: undefined, host: endpoint.host, port: endpoint.port };
  const docker = new Docker({
    ...connection,
    protocol: "http",
    ca: undefined,
    cert: undefined,
    key: undefined,
    timeout: undefined,
    // No version: EngineSource negotiates it and puts it in each path.
    version: undefined,
  });
  return {
    get(path, { query, signal }) {
      return new Promise((resolve, reject) => {
        docker.modem.dial(
          {
            // docker-modem appends the query string only to paths ending in "?".
            path: query ? `${path}?` : path,
            method: "GET",
            options: query ? { ...query } : {},
            ...(signal ? { abortSignal: signal } : {}),
            statusCodes: { 200: true },
          },
          (err, data) => (err ? reject(fromModemError(err)) : resolve(data)),
        );
      });
    },
  };
}

/** docker-modem reports an HTTP status as an Error with `statusCode` and the parsed body in `json`. */
function fromModemError(err: unknown): unknown {
  const e = err as { statusCode?: unknown; json?: unknown } | null;
  if (e && typeof e.statusCode === "number") {
    const body = e.json as { message?: unknown } | null | undefined;
    const message =
      typeof body?.message === "string" ? body.message : Buffer.isBuffer(body) ? body.toString("utf8") : "";
    return new EngineHttpError(e.statusCode, message.slice(0, 500));
  }
  return err;
}
