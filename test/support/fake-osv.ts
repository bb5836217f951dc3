/**
 * A loopback OSV API that replays osv-scanner's recorded traffic (go-vcr cassettes in
 * ../shared/vectors/vuln/osv/cassettes): each recorded querybatch query answers with its recorded
 * result, in any combination and order; `GET /v1/vulns/{id}` answers from the records a test
 * gives (osv-scanner records no detail responses). Anything else is answered 404 and noted in
 * `unrecorded`, which a test asserts empty: the fake never makes up an answer.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { parse } from "yaml";
import { readVectorText } from "./vectors.js";

/** One recorded query: `{package: {ecosystem, name}, version}`. */
export interface RecordedQuery {
  package: { ecosystem: string; name: string };
  version: string;
}

interface Interaction {
  request: { url: string; method: string; body: string };
  response: { code: number; body: string };
}

/** The key a query is recorded under. */
export const keyOf = (q: RecordedQuery) => JSON.stringify([q.package.ecosystem, q.package.name, q.version]);

/** Faults a test can ask for. */
export interface FakeOsvFaults {
  /** Statuses answered (in order) before the recorded answer, e.g. [503, 429]. */
  statuses?: number[];
  /** Replace every querybatch answer body. */
  batchBody?: (recorded: string) => string | Buffer;
  /** Hold each answer this long before sending it (for deadline tests). */
  delayMs?: number;
}

/** The running fake. */
export interface FakeOsv {
  url: string;
  host: string;
  /** Every request, `METHOD path`. */
  log: string[];
  /** Requests it had no recording for. */
  unrecorded: string[];
  /** The recorded queries, in cassette order. */
  queries: RecordedQuery[];
  faults: FakeOsvFaults;
  stop(): Promise<void>;
}

/** Loads the recorded querybatch results of the cassettes, by query. */
export function loadCassettes(names: string[]): Map<string, unknown> {
  const byQuery = new Map<string, unknown>();
  for (const name of names) {
    const doc = parse(readVectorText(`vuln/osv/cassettes/${name}`)) as { interactions: Interaction[] };
    for (const it of doc.interactions) {
      if (it.request.method !== "POST" || !it.request.url.endsWith("/v1/querybatch")) continue;
      const queries = (JSON.parse(it.request.body) as { queries: RecordedQuery[] }).queries;
      const results = (JSON.parse(it.response.body) as { results: unknown[] }).results;
      for (const [i, q] of queries.entries()) byQuery.set(keyOf(q), results[i]);
    }
  }
  return byQuery;
}

async function bodyOf(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * Starts the fake on 127.0.0.1 with these cassettes (or answers already loaded, by query, for a
 * benchmark's made-up packages) and full records.
 */
export async function startFakeOsv(
  cassettes: string[] | Map<string, unknown>,
  records: Record<string, unknown> = {},
  faults: FakeOsvFaults = {},
): Promise<FakeOsv> {
  const recorded = Array.isArray(cassettes) ? loadCassettes(cassettes) : cassettes;
  const log: string[] = [];
  const unrecorded: string[] = [];
  const state: FakeOsv = {
    url: "",
    host: "",
    log,
    unrecorded,
    queries: [...recorded.keys()].map((k) => {
      const [ecosystem, name, version] = JSON.parse(k) as string[];
      return { package: { ecosystem: ecosystem!, name: name! }, version: version! };
    }),
    faults,
    stop: async () => {},
  };
  const send = async (res: ServerResponse, status: number, body: string | Buffer) => {
    if (state.faults.delayMs) await new Promise((r) => setTimeout(r, state.faults.delayMs));
    if (res.destroyed) return;
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  };
  const server: Server = createServer(async (req, res) => {
    const path = new URL(req.url ?? "/", "http://fake").pathname;
    log.push(`${req.method} ${path}`);
    const body = await bodyOf(req);
    const status = state.faults.statuses?.shift();
    if (status) return send(res, status, '{"code":8,"message":"try again"}');
    if (req.method === "POST" && path === "/v1/querybatch") {
      const queries = (JSON.parse(body) as { queries: RecordedQuery[] }).queries;
      const missing = queries.filter((q) => !recorded.has(keyOf(q)));
      if (missing.length) {
        unrecorded.push(...missing.map((q) => `querybatch ${keyOf(q)}`));
        return send(res, 404, '{"message":"not recorded"}');
      }
      const answer = JSON.stringify({ results: queries.map((q) => recorded.get(keyOf(q))) });
      return send(res, 200, state.faults.batchBody ? state.faults.batchBody(answer) : answer);
    }
    const m = /^\/v1\/vulns\/([^/]+)$/.exec(path);
    if (req.method === "GET" && m && Object.hasOwn(records, decodeURIComponent(m[1]!)))
      return send(res, 200, JSON.stringify(records[decodeURIComponent(m[1]!)]));
    unrecorded.push(`${req.method} ${path}`);
    return send(res, 404, '{"message":"not recorded"}');
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  state.host = `127.0.0.1:${port}`;
  state.url = `http://${state.host}`;
  state.stop = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}
