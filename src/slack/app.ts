/**
 * The Slack app: Bolt wired to the store, the queue and the renderers.
 *
 * HTTP mode (no SLACK_APP_TOKEN): one HTTP server on PORT serves Slack's requests at /slack/events
 * (through Bolt's HTTPReceiver, which verifies every signature), `GET /healthz` and `GET /metrics`.
 * Socket Mode (SLACK_APP_TOKEN set): Slack's requests come over the socket; the same server still
 * answers /healthz and /metrics for the container's health check and scraping.
 * https://docs.slack.dev/tools/bolt-js/concepts/socket-mode
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { App, type Logger as BoltLogger, HTTPReceiver, LogLevel } from "@slack/bolt";
import type { Config } from "../config.js";
import { ConfigError } from "../config.js";
import { oneLine } from "../errors.js";
import type { Policy } from "../policy/schema.js";
import type { RequestRecord } from "../store/api.js";
import type { OpenedStore } from "../store/service.js";
import type { CheckOutcomeOfJob } from "../worker/check-job.js";
import { enqueueCheck } from "../worker/check-job.js";
import { openQueue } from "../worker/queue.js";
import type { JobHandlerSpec } from "../worker/types.js";
import { createSlackApi, SlackApiError, WEB_CLIENT_DEFAULTS } from "./api.js";
import { createApprovers } from "./approvers.js";
import { slackConfigProblems } from "./config.js";
import { bodyAcceptable, SLACK_BODY_LIMIT_BYTES, timestampAcceptable } from "./http-guard.js";
import { JOB } from "./ids.js";
import { enqueueRequestJob, slackJobHandlers } from "./jobs.js";
import { DELIVERY_PROPERTY, deliveryOf } from "./listeners/deliveries.js";
import { registerListeners } from "./listeners/index.js";
import { Metrics } from "./metrics.js";
import { createSlackService, type SlackService } from "./service.js";
import { watchJobHandlers } from "./watch-jobs.js";

export { SIGNATURE_MAX_AGE_SECONDS } from "./http-guard.js";

/**
 * How long after the last Slack request arrived the app still counts as busy (see `busy()`). Slack
 * requests come in bursts (a team's morning, a channel trying a new image); between two requests of
 * a burst nothing is in flight for a fraction of a millisecond, and a job started then would hold
 * the event loop while the next requests wait unread in their sockets.
 */
export const ACK_QUIET_MS = 20;

/** The few log calls the app makes. */
export interface AppLogger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** What the app needs. */
export interface SlackAppDeps {
  config: Config;
  /** The open store; its database also holds the job queue. */
  store: OpenedStore;
  policy: Policy;
  /** Version (hash) of the policy: part of the check job's sharing key. */
  policyVersion: string;
  now: () => Date;
  logger?: AppLogger;
  metrics?: Metrics;
  /** Whether the workers run (for /healthz); assumed when absent. */
  workerRunning?: () => boolean;
  /** Listen address; all interfaces by default (a container's port mapping needs that). */
  host?: string;
}

/** The app. */
export interface SlackApp {
  /** Check Slack's token, then listen (HTTP) or connect (Socket Mode). Resolves with the HTTP port. */
  start(): Promise<{ port: number }>;
  /** Stop taking requests (in-flight ones finish). The caller stops the workers and closes the store. */
  stop(): Promise<void>;
  /** Handlers of the `slack.*` jobs, for the worker. */
  jobHandlers: Record<string, JobHandlerSpec>;
  /** For the check job's `afterCheck`: queue the answer to each Slack requester. */
  afterCheck(outcome: CheckOutcomeOfJob): void;
  /** For the check job's `afterFailed`. */
  afterFailed(requests: RequestRecord[]): void;
  /** Slack requests being answered right now (HTTP mode), so background work can let them go first. */
  inFlight(): number;
  /** Whether Slack requests are being answered, or one arrived less than `ACK_QUIET_MS` ago. */
  busy(): boolean;
  metrics: Metrics;
  service: SlackService;
}

/** Log levels, least severe first. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;

/** A logger writing one timestamped line per message at `level` or above (an unknown level means info). */
export function lineLogger(write: (line: string) => void, level = "info"): AppLogger {
  const wanted = LOG_LEVELS.indexOf(level as (typeof LOG_LEVELS)[number]);
  const min = wanted === -1 ? 1 : wanted;
  const at = (l: (typeof LOG_LEVELS)[number]) => (message: string) => {
    if (LOG_LEVELS.indexOf(l) >= min) write(`${new Date().toISOString()} ${l} ${oneLine(message)}\n`);
  };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** Bolt's logger interface over ours. */
function boltLogger(log: AppLogger): BoltLogger {
  let level = LogLevel.INFO;
  const text = (msg: unknown[]) =>
    msg
      .map((m) => (m instanceof Error ? oneLine(m) : typeof m === "string" ? m : JSON.stringify(m)))
      .join(" ");
  return {
    debug: (...m: unknown[]) => log.debug(`bolt: ${text(m)}`),
    info: (...m: unknown[]) => log.info(`bolt: ${text(m)}`),
    warn: (...m: unknown[]) => log.warn(`bolt: ${text(m)}`),
    error: (...m: unknown[]) => log.error(`bolt: ${text(m)}`),
    setLevel: (l) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => {},
  };
}

/** Build the app; throws ConfigError (one line per problem, naming the variable) on bad configuration. */
export function createSlackApp(deps: SlackAppDeps): SlackApp {
  const problems = slackConfigProblems(deps.config);
  if (problems.length) throw new ConfigError(problems);
  const { config, store, now } = deps;
  const slack = config.slack as Required<Pick<Config["slack"], "botToken" | "itChannel">> & Config["slack"];
  const log = deps.logger ?? lineLogger((line) => process.stderr.write(line));
  const metrics = deps.metrics ?? new Metrics();
  const socketMode = Boolean(slack.appToken);
  const logger = boltLogger(log);

  const receiver = socketMode
    ? undefined
    : new HTTPReceiver({
        signingSecret: slack.signingSecret!,
        endpoints: "/slack/events",
        logger,
        // The ack is sent as soon as a listener calls it; listeners write before they ack.
        processBeforeResponse: false,
        // Runs once the signature verified: what the dedupe middleware (listeners/deliveries.ts)
        // needs to know this delivery again.
        customPropertiesExtractor: (req) => ({ [DELIVERY_PROPERTY]: deliveryOf(req) }),
      });
  const app = new App({
    token: slack.botToken,
    ...(receiver ? { receiver } : { socketMode: true, appToken: slack.appToken }),
    logger,
    // The app keeps no conversation state; skipping Bolt's store saves a look-up per request.
    convoStore: false,
    deferInitialization: true,
    clientOptions: {
      slackApiUrl: slack.apiUrl,
      retryConfig: WEB_CLIENT_DEFAULTS.retryConfig,
      rejectRateLimitedCalls: WEB_CLIENT_DEFAULTS.rejectRateLimitedCalls,
      timeout: WEB_CLIENT_DEFAULTS.timeout,
      logger,
    },
  });
  const api = createSlackApi(app.client, metrics);
  const approvers = createApprovers(
    slack.approvers,
    (g) => api.usergroupMembers(g),
    () => now().getTime(),
  );
  const queue = openQueue(store);
  const ledger = store.slackLedger();
  const service = createSlackService({
    store,
    ledger,
    queue,
    transaction: (fn) => store.transaction(fn),
    groupTransaction: store.groupCommit(),
    enqueueCheck: (request, at) =>
      enqueueCheck(
        store,
        { requestId: request.id, reference: request.reference, policyVersion: deps.policyVersion },
        at,
      ),
    approvers,
    policy: deps.policy,
    now,
    metrics,
    watch: store.watch(),
  });
  const logTo = (level: "warn" | "error", message: string) => log[level](message);
  registerListeners(app, { service, store, api, metrics, log: logTo });
  app.error(async (err) => {
    log.error(`slack listener failed: ${oneLine(err)}`);
  });

  const jobHandlers = {
    ...slackJobHandlers({
      store,
      ledger,
      api,
      service,
      approvers,
      queue,
      itChannel: slack.itChannel,
      now,
      metrics,
      log: logTo,
    }),
    ...watchJobHandlers({ store, api, itChannel: slack.itChannel, now }),
  };

  metrics.gauge("image_check_queue_jobs", () => queue.counts());

  let server: Server | undefined;
  let stopping = false;
  let inFlight = 0;
  let lastRequestAt = Number.NEGATIVE_INFINITY;

  const health = async (res: ServerResponse) => {
    let db = "ok";
    try {
      await store.getRequest("req_healthcheck");
    } catch (err) {
      db = oneLine(err);
    }
    const worker = deps.workerRunning ? (deps.workerRunning() ? "running" : "stopped") : "running";
    const ok = db === "ok" && worker === "running" && !stopping;
    send(
      res,
      ok ? 200 : 503,
      "application/json",
      JSON.stringify({
        status: ok ? "ok" : stopping ? "stopping" : "unhealthy",
        db,
        worker,
        mode: socketMode ? "socket" : "http",
      }),
    );
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    if (req.method === "GET" && path === "/healthz") {
      health(res).catch(() => send(res, 503, "text/plain; charset=utf-8", "unhealthy\n"));
      return;
    }
    if (req.method === "GET" && path === "/metrics") {
      metrics.render().then(
        (text) => send(res, 200, "text/plain; version=0.0.4; charset=utf-8", text),
        () => send(res, 503, "text/plain; charset=utf-8", "metrics unavailable\n"),
      );
      return;
    }
    if (receiver && req.method === "POST" && path === "/slack/events") {
      const started = performance.now();
      lastRequestAt = started;
      inFlight++;
      res.once("close", () => {
        inFlight--;
      });
      // Refused before Bolt reads anything (./http-guard.ts): a timestamp that is not plain seconds
      // within the window, whatever its signature. The wall clock is right here: it is what Slack
      // signed against. Without the header, Bolt refuses (401) all but Slack's unsigned ssl_check.
      const timestamp = req.headers["x-slack-request-timestamp"];
      if (timestamp !== undefined && !timestampAcceptable(timestamp, Date.now() / 1000)) {
        metrics.inc("image_check_slack_requests_rejected_total", { reason: "timestamp" });
        req.resume();
        return send(res, 401, "text/plain", "");
      }
      res.on("finish", () => {
        if (res.statusCode === 401)
          metrics.inc("image_check_slack_requests_rejected_total", { reason: "signature" });
        else if (res.statusCode < 400)
          metrics.observe("image_check_ack_seconds", (performance.now() - started) / 1000);
      });
      readBody(req, SLACK_BODY_LIMIT_BYTES)
        .then((raw) => {
          if (raw === null) {
            metrics.inc("image_check_slack_requests_rejected_total", { reason: "too_large" });
            return send(res, 413, "text/plain", "");
          }
          if (!bodyAcceptable(raw, req.headers["content-type"])) {
            metrics.inc("image_check_slack_requests_rejected_total", { reason: "body" });
            return send(res, 400, "text/plain", "");
          }
          // Bolt takes a body already read from `rawBody` (its bufferIncomingMessage) and verifies
          // the signature over exactly these bytes.
          (req as IncomingMessage & { rawBody?: Buffer }).rawBody = raw;
          receiver.requestListener(req, res);
        })
        .catch((err: unknown) => {
          log.warn(`slack request failed before any listener: ${oneLine(err)}`);
          if (!res.headersSent) send(res, 400, "text/plain", "");
        });
      return;
    }
    send(res, 404, "text/plain", "not found\n");
  };

  return {
    async start() {
      try {
        await app.init();
      } catch (err) {
        throw startupError(err, slack.apiUrl);
      }
      server = createServer((req, res) => {
        try {
          handle(req, res);
        } catch (err) {
          log.error(`request failed: ${oneLine(err)}`);
          if (!res.headersSent) send(res, 500, "text/plain", "");
        }
      });
      const listening = server;
      await new Promise<void>((resolve, reject) => {
        listening.once("error", reject);
        listening.listen(config.port, deps.host, () => {
          listening.off("error", reject);
          resolve();
        });
      });
      if (socketMode) await app.start();
      const { port } = listening.address() as AddressInfo;
      log.info(
        `image-check Slack app ready (${socketMode ? "Socket Mode" : "HTTP"}), listening on port ${port}`,
      );
      return { port };
    },

    async stop() {
      stopping = true;
      if (socketMode) await app.stop().catch((err: unknown) => log.warn(`socket mode stop: ${oneLine(err)}`));
      const s = server;
      server = undefined;
      if (!s) return;
      // In-flight requests finish (each is written before it is acked); idle keep-alives close now.
      await new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeIdleConnections();
      });
    },

    jobHandlers,

    async afterCheck(outcome) {
      for (const r of outcome.requests) {
        if (r.source !== "slack") continue;
        metrics.inc("image_check_checks_total", {
          verdict: r.status === "failed" ? "failed" : (r.verdict ?? "unknown"),
        });
        await enqueueRequestJob({ queue }, JOB.result, r.id, now());
      }
    },

    async afterFailed(requests) {
      for (const r of requests) {
        if (r.source !== "slack") continue;
        metrics.inc("image_check_checks_total", { verdict: "failed" });
        await enqueueRequestJob({ queue }, JOB.result, r.id, now());
      }
    },

    inFlight: () => inFlight,
    busy: () => inFlight > 0 || performance.now() - lastRequestAt < ACK_QUIET_MS,
    metrics,
    service,
  };
}

/** The body of `req`, or null (the rest left unread, the connection closed) past `limit` bytes. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"]);
    if (declared > limit) {
      req.resume();
      return resolve(null);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners("data");
        req.resume();
        resolve(null);
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function send(res: ServerResponse, status: number, type: string, body: string) {
  res.writeHead(status, { "content-type": type });
  res.end(body);
}

/** A start-up failure of auth.test as one line naming the variable to fix. */
function startupError(err: unknown, apiUrl: string): Error {
  const slackError = (err as { data?: { error?: string } })?.data?.error;
  if (slackError) return new ConfigError([`SLACK_BOT_TOKEN: Slack refused the token (${slackError})`]);
  const mapped = err instanceof SlackApiError ? err : null;
  return new ConfigError([
    `SLACK_API_URL: could not reach the Slack Web API at ${apiUrl} (${oneLine(mapped ?? err)})`,
  ]);
}
