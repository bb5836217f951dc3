// A recording, fault-injecting HTTP proxy in front of a testbed registry. Tests use it to prove
// from the wire what a client did ("no layer blob was fetched") and to make a registry slow,
// wrong or rude (429, tampered bodies, redirects, huge slow manifests).
// The client's Host header is forwarded unchanged, so the registry builds upload Locations that
// point back at the proxy and every later request is recorded too.
import { createServer, type IncomingHttpHeaders, request } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";

/** A request as the hooks see it (body fully read). */
export interface ProxyRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  /** Path with the query string, as received. */
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A response the proxy gives by itself; a Readable/async-iterable body is streamed as produced. */
export interface ProxyResponse {
  status: number;
  headers?: Record<string, string | number | string[]>;
  body?: Buffer | string | Readable | AsyncIterable<Uint8Array>;
}

/** Hooks of startProxy; each may return undefined to leave the request alone. */
export interface ProxyOptions {
  /** Milliseconds to wait before answering this request. */
  delayMs?: (req: ProxyRequest) => number;
  /** Replacement body for the upstream's response (content-length is fixed up). */
  tamper?: (req: ProxyRequest, body: Buffer) => Buffer | undefined;
  /** Answer without asking upstream. */
  respond?: (req: ProxyRequest) => ProxyResponse | undefined | Promise<ProxyResponse | undefined>;
}

/** One request seen by the proxy. */
export interface RecordedRequest {
  method: string;
  path: string;
  status: number;
  /** Path with query string. */
  url: string;
  /** The request's If-None-Match header, when it had one (conditional manifest GETs). */
  ifNoneMatch?: string;
}

/** A running proxy. */
export interface Proxy {
  /** "127.0.0.1:PORT" */
  host: string;
  /** "http://127.0.0.1:PORT" */
  url: string;
  requests: RecordedRequest[];
  /** Forgets the recorded requests. */
  reset(): void;
  stop(): Promise<void>;
}

// Hop-by-hop headers are not forwarded (RFC 9110 section 7.6.1).
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
]);

function endToEnd(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => !HOP_BY_HOP.has(k.toLowerCase())));
}

/** A slowly streamed body: `total` bytes of `fill` in chunks of `chunk` bytes every `everyMs`. */
export function slowBody(
  total: number,
  opts: { chunk?: number; everyMs?: number; fill?: number } = {},
): Readable {
  const chunk = opts.chunk ?? 64 * 1024;
  const everyMs = opts.everyMs ?? 10;
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) {
        this.push(null);
        return;
      }
      const n = Math.min(chunk, total - sent);
      sent += n;
      setTimeout(() => this.push(Buffer.alloc(n, opts.fill ?? 0x20)), everyMs);
    },
  });
}

/** Starts a proxy on 127.0.0.1 forwarding to `upstream` ("host:port"). */
export async function startProxy(upstream: string, opts: ProxyOptions = {}): Promise<Proxy> {
  const [upstreamHost, upstreamPort] = upstream.split(":") as [string, string];
  const requests: RecordedRequest[] = [];

  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = req.url ?? "/";
    const info: ProxyRequest = {
      method: req.method ?? "GET",
      path: url.split("?")[0] ?? url,
      url,
      headers: req.headers,
      body: Buffer.concat(chunks),
    };
    const record = (status: number): void => {
      const ifNoneMatch = req.headers["if-none-match"];
      requests.push({
        method: info.method,
        path: info.path,
        status,
        url,
        ...(typeof ifNoneMatch === "string" ? { ifNoneMatch } : {}),
      });
    };
    try {
      const delay = opts.delayMs?.(info) ?? 0;
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));

      const own = await opts.respond?.(info);
      if (own !== undefined) {
        record(own.status);
        const body = own.body;
        if (body === undefined || typeof body === "string" || Buffer.isBuffer(body)) {
          const bytes = Buffer.from(body ?? "");
          res.writeHead(own.status, { "content-length": bytes.length, ...own.headers });
          res.end(info.method === "HEAD" ? undefined : bytes);
        } else {
          res.writeHead(own.status, own.headers);
          const stream = body instanceof Readable ? body : Readable.from(body);
          stream.on("error", () => res.destroy());
          res.on("close", () => stream.destroy());
          stream.pipe(res);
        }
        return;
      }

      const upstreamRes = await new Promise<import("node:http").IncomingMessage>((resolve, reject) => {
        const out = request(
          {
            host: upstreamHost,
            port: Number(upstreamPort),
            method: info.method,
            path: url,
            headers: endToEnd(req.headers),
          },
          resolve,
        );
        out.on("error", reject);
        out.end(info.body);
      });
      const status = upstreamRes.statusCode ?? 502;
      record(status);
      const headers = endToEnd(upstreamRes.headers);
      if (opts.tamper === undefined) {
        res.writeHead(status, headers);
        upstreamRes.pipe(res);
        return;
      }
      const upChunks: Buffer[] = [];
      for await (const c of upstreamRes) upChunks.push(c as Buffer);
      const original = Buffer.concat(upChunks);
      const replaced = opts.tamper(info, original);
      const body = replaced ?? original;
      if (replaced !== undefined && info.method !== "HEAD") headers["content-length"] = String(body.length);
      res.writeHead(status, headers);
      res.end(info.method === "HEAD" ? undefined : body);
    } catch (err) {
      record(502);
      if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
      res.end(`proxy error: ${err instanceof Error ? err.message : String(err)}`);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    requests,
    reset: () => {
      requests.length = 0;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
