// A small fake of Slack's Web API on 127.0.0.1, the one in-repo fake this project allows (STYLE.md,
// convention 8): Slack cannot run here. It records every call (method, decoded body, token), answers
// the way Slack does for the methods the app uses, serves `response_url` POSTs, and can be told to
// answer a method with a 429 + Retry-After or an error, a given number of times, or hold a method's
// answers until the test lets them go (a slow Slack).
import { createHash, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/** One recorded Web API call. */
export interface SlackCall {
  method: string;
  /** Form fields or JSON, with JSON-encoded fields (blocks, view, …) decoded. */
  body: Record<string, unknown>;
  /** The bearer token (or `token` field) the call carried. */
  token: string | undefined;
  /** What the fake answered: the HTTP status, and the JSON body when it answered with one. */
  status: number;
  response?: Record<string, unknown>;
}

/** A message as the fake keeps it in a channel's history. */
interface StoredMessage {
  type: "message";
  ts: string;
  text: unknown;
  blocks: unknown;
  bot_id: string;
  metadata?: unknown;
}

/** One POST to a response_url. */
export interface ResponseUrlPost {
  id: string;
  body: Record<string, unknown>;
}

/** An injected failure for the next `times` calls of a method. */
export interface Failure {
  /** 429 with Retry-After, or an `ok: false` error at HTTP 200 (like Slack), or a bare HTTP status. */
  kind: "rate_limited" | "error" | "http";
  retryAfterSeconds?: number;
  error?: string;
  status?: number;
  times: number;
}

/** The fake and its controls. */
export interface FakeSlack {
  /** Web API base, with a trailing slash (what `SLACK_API_URL` takes). */
  apiUrl: string;
  /** A fresh response_url on this fake. */
  responseUrl(): string;
  /** Every Web API call, in arrival order (failed ones included, with their status). */
  calls: SlackCall[];
  /** Every response_url POST, in arrival order. */
  responses: ResponseUrlPost[];
  /** Calls of one method that were answered ok. */
  ok(method: string): SlackCall[];
  /** Socket Mode: `apps.connections.open` hands out a WebSocket URL on this fake. */
  socket: FakeSocketMode;
  /** Members of each user group (`usergroups.users.list`). */
  usergroups: Map<string, string[]>;
  /** Answer the next `times` calls of `method` with the failure. */
  fail(method: string, failure: Omit<Failure, "times"> & { times?: number }): void;
  /**
   * Hold the answers to `method` from now on, until the returned `release` is called: then every
   * held call is answered as usual, and later calls are no longer held. `arrived` resolves once a
   * held call came in.
   */
  hold(method: string): { arrived: Promise<void>; release: () => void };
  /**
   * Resolve once `predicate` holds over the recorded traffic, re-checked on every call. Rejects after
   * `limitMs` only so a broken app fails the test with a message instead of hanging it; this is not a
   * timing assertion.
   */
  until<T>(predicate: () => T | undefined | false | null, what: string, limitMs?: number): Promise<T>;
  close(): Promise<void>;
}

/** The Socket Mode side of the fake (https://docs.slack.dev/apis/events-api/using-socket-mode). */
export interface FakeSocketMode {
  /** Resolves once an app connected and was sent `hello`. */
  connected(): Promise<void>;
  /** Send an envelope (`slash_commands`, `interactive`, `events_api`) and resolve with the app's ack payload. */
  send(type: string, payload: unknown): Promise<unknown>;
}

/** Start the fake on a random loopback port. */
export async function startFakeSlack(options: { botUserId?: string } = {}): Promise<FakeSlack> {
  const calls: SlackCall[] = [];
  const responses: ResponseUrlPost[] = [];
  const failures = new Map<string, Failure>();
  const usergroups = new Map<string, string[]>();
  const holds = new Map<string, { gate: Promise<void>; arrive: () => void; release: () => void }>();
  /** What each channel holds, newest first (for conversations.history). */
  const history = new Map<string, StoredMessage[]>();
  const waiters = new Set<() => void>();
  let seq = 0;
  let base = "";
  const nextTs = () => `${1_700_000_000 + ++seq}.${String(seq).padStart(6, "0")}`;
  const notify = () => {
    for (const w of [...waiters]) w();
  };

  const answer = (method: string, body: Record<string, unknown>): Record<string, unknown> => {
    switch (method) {
      case "apps.connections.open":
        return { ok: true, url: `${base.replace("http:", "ws:")}/socket` };
      case "auth.test":
        return {
          ok: true,
          url: "https://fake.slack.com/",
          team: "Fake",
          user: "image-check",
          team_id: "T0FAKE",
          user_id: options.botUserId ?? "UBOT",
          bot_id: "BBOT",
        };
      case "chat.postMessage": {
        // Posting to a user id opens (or reuses) the DM with them, as Slack does.
        const asked = String(body.channel ?? "");
        const channel = /^[UW]/.test(asked) ? `D${asked.slice(1)}` : asked;
        const ts = nextTs();
        const message: StoredMessage = {
          type: "message",
          ts,
          text: body.text,
          blocks: body.blocks,
          bot_id: "BBOT",
        };
        if (body.metadata && typeof body.metadata === "object") message.metadata = body.metadata;
        history.set(channel, [message, ...(history.get(channel) ?? [])]);
        return { ok: true, channel, ts, message: { text: body.text } };
      }
      case "conversations.history": {
        // Newest first; metadata only when asked for (include_all_metadata), as Slack does.
        const limit = Number(body.limit ?? 100);
        const withMetadata = body.include_all_metadata === true || body.include_all_metadata === "true";
        const messages = (history.get(String(body.channel ?? "")) ?? [])
          .slice(0, limit)
          .map(({ metadata, ...m }) => (withMetadata && metadata ? { ...m, metadata } : m));
        return { ok: true, messages, has_more: false };
      }
      case "conversations.open": {
        // The app's DM with one user: the channel chat.postMessage to that user id lands in.
        const user = String(body.users ?? "");
        return /^[UW][A-Z0-9]+$/.test(user)
          ? { ok: true, channel: { id: `D${user.slice(1)}` } }
          : { ok: false, error: "user_not_found" };
      }
      case "chat.postEphemeral":
        return { ok: true, message_ts: nextTs() };
      case "chat.update":
        return { ok: true, channel: body.channel, ts: body.ts, text: body.text };
      case "views.open":
      case "views.publish":
      case "views.update":
        return { ok: true, view: { id: `V${++seq}`, ...(body.view as object) } };
      case "usergroups.users.list": {
        const users = usergroups.get(String(body.usergroup ?? ""));
        return users ? { ok: true, users } : { ok: false, error: "no_such_subteam" };
      }
      case "users.info":
        return { ok: true, user: { id: body.user, name: String(body.user).toLowerCase(), tz: "UTC" } };
      default:
        return { ok: false, error: "unknown_method" };
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const raw = await readBody(req);
    const url = new URL(req.url ?? "/", "http://fake");
    const body = decode(raw, String(req.headers["content-type"] ?? ""));
    if (url.pathname.startsWith("/response/")) {
      responses.push({ id: url.pathname.slice("/response/".length), body });
      send(res, 200, "ok", "text/plain");
      notify();
      return;
    }
    const method = url.pathname.replace(/^\/api\//, "");
    const hold = holds.get(method);
    if (hold) {
      hold.arrive();
      await hold.gate;
    }
    const auth = req.headers.authorization;
    const token = auth?.startsWith("Bearer ")
      ? auth.slice(7)
      : typeof body.token === "string"
        ? body.token
        : undefined;
    const failure = failures.get(method);
    if (failure && failure.times > 0) {
      failure.times--;
      if (failure.times === 0) failures.delete(method);
      if (failure.kind === "rate_limited") {
        calls.push({ method, body, token, status: 429 });
        res.writeHead(429, {
          "retry-after": String(failure.retryAfterSeconds ?? 1),
          "content-type": "application/json",
        });
        res.end(JSON.stringify({ ok: false, error: "ratelimited" }));
      } else if (failure.kind === "http") {
        calls.push({ method, body, token, status: failure.status ?? 500 });
        send(res, failure.status ?? 500, "upstream failure", "text/plain");
      } else {
        calls.push({ method, body, token, status: 200 });
        send(res, 200, JSON.stringify({ ok: false, error: failure.error ?? "internal_error" }));
      }
      notify();
      return;
    }
    const result = token ? answer(method, body) : { ok: false, error: "not_authed" };
    calls.push({ method, body, token, status: 200, response: result });
    send(res, 200, JSON.stringify(result));
    notify();
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err) => send(res, 500, String(err), "text/plain"));
  });
  const socketMode = acceptSocketMode(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  base = `http://127.0.0.1:${port}`;

  return {
    apiUrl: `${base}/api/`,
    responseUrl: () => `${base}/response/${randomUUID()}`,
    calls,
    responses,
    ok: (method) => calls.filter((c) => c.method === method && c.status === 200),
    socket: socketMode,
    usergroups,
    fail(method, failure) {
      failures.set(method, { ...failure, times: failure.times ?? 1 });
    },
    hold(method) {
      let arrive!: () => void;
      const arrived = new Promise<void>((resolve) => {
        arrive = resolve;
      });
      let open!: () => void;
      const gate = new Promise<void>((resolve) => {
        open = resolve;
      });
      const release = () => {
        if (holds.get(method)?.gate === gate) holds.delete(method);
        open();
      };
      holds.set(method, { gate, arrive, release });
      return { arrived, release };
    },
    until<T>(predicate: () => T | undefined | false | null, what: string, limitMs = 20_000): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const check = () => {
          let value: T | undefined | false | null;
          try {
            value = predicate();
          } catch (err) {
            finish();
            reject(err);
            return;
          }
          if (value !== undefined && value !== false && value !== null) {
            finish();
            resolve(value);
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`fake Slack never saw: ${what}`));
        }, limitMs);
        const finish = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        socketMode.close();
        for (const h of [...holds.values()]) h.release();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function send(res: ServerResponse, status: number, body: string, type = "application/json") {
  res.writeHead(status, { "content-type": type });
  res.end(body);
}

// The WebClient sends form fields with objects JSON-encoded; response_url POSTs are JSON.
function decode(raw: string, contentType: string): Record<string, unknown> {
  if (contentType.includes("application/json")) {
    try {
      return JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return { _raw: raw };
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(raw)) {
    out[key] = /^[[{]/.test(value) ? tryJson(value) : value;
  }
  return out;
}

function tryJson(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

// A minimal WebSocket server (RFC 6455) for Socket Mode: the handshake, text frames, ping/pong and
// close; enough for Slack's SDK client, which is all that ever connects here.
function acceptSocketMode(server: Server): FakeSocketMode & { close(): void } {
  let socket: Socket | null = null;
  let onConnected: (() => void)[] = [];
  const acks = new Map<string, (payload: unknown) => void>();
  const frame = (opcode: number, data: Buffer) => {
    const len = data.length;
    const head =
      len < 126 ? Buffer.from([0x80 | opcode, len]) : Buffer.from([0x80 | opcode, 126, len >> 8, len & 0xff]);
    if (len > 0xffff) throw new Error("fake socket: frame too large");
    socket?.write(Buffer.concat([head, data]));
  };
  const sendJson = (value: unknown) => frame(0x1, Buffer.from(JSON.stringify(value)));
  server.on("upgrade", (req: IncomingMessage, s: Socket) => {
    const key = String(req.headers["sec-websocket-key"] ?? "");
    const accept = createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
    s.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    socket = s;
    let buffered = Buffer.alloc(0);
    s.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        if (buffered.length < 2) return;
        const opcode = buffered[0]! & 0x0f;
        let len = buffered[1]! & 0x7f;
        let offset = 2;
        if (len === 126) {
          if (buffered.length < 4) return;
          len = buffered.readUInt16BE(2);
          offset = 4;
        } else if (len === 127) {
          if (buffered.length < 10) return;
          len = Number(buffered.readBigUInt64BE(2));
          offset = 10;
        }
        const masked = (buffered[1]! & 0x80) !== 0;
        const end = offset + (masked ? 4 : 0) + len;
        if (buffered.length < end) return;
        const mask = masked ? buffered.subarray(offset, offset + 4) : null;
        const data = Buffer.from(buffered.subarray(end - len, end));
        if (mask) for (let i = 0; i < data.length; i++) data[i]! ^= mask[i % 4]!;
        buffered = buffered.subarray(end);
        if (opcode === 0x9) frame(0xa, data);
        else if (opcode === 0x8) {
          frame(0x8, data.subarray(0, 2));
          s.end();
        } else if (opcode === 0x1) {
          const msg = JSON.parse(data.toString("utf8")) as { envelope_id?: string; payload?: unknown };
          if (msg.envelope_id) acks.get(msg.envelope_id)?.(msg.payload ?? null);
        }
      }
    });
    s.on("error", () => {});
    s.on("close", () => {
      if (socket === s) socket = null;
    });
    sendJson({
      type: "hello",
      num_connections: 1,
      debug_info: { host: "fake" },
      connection_info: { app_id: "A0APP" },
    });
    for (const resolve of onConnected) resolve();
    onConnected = [];
  });
  return {
    connected: () => (socket ? Promise.resolve() : new Promise<void>((resolve) => onConnected.push(resolve))),
    send(type, payload) {
      const envelopeId = randomUUID();
      const acked = new Promise<unknown>((resolve) => acks.set(envelopeId, resolve));
      sendJson({
        envelope_id: envelopeId,
        type,
        payload,
        accepts_response_payload: type !== "events_api",
        retry_attempt: 0,
        retry_reason: "",
      });
      return acked;
    },
    close() {
      socket?.destroy();
    },
  };
}
