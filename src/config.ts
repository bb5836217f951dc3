/**
 * Configuration from the environment (../shared/CONTRACT.md, "Configuration"). Called from main,
 * never at import. Each command validates only the variables it needs, and reports every problem,
 * one line each, naming the variable.
 */
import { homedir } from "node:os";
import { join } from "node:path";
import { CodedError } from "./errors.js";

/** Defaults, each with why. */
export const CONFIG_DEFAULTS = {
  /** Relative to where the bot runs, so a checkout or a container volume holds it. */
  db: "./data/image-check.db",
  /** Slack's public Web API; tests point this at a fake. */
  slackApiUrl: "https://slack.com/api/",
  /** Bolt's conventional port. */
  port: 3000,
};

/** The configuration every command reads. */
export interface Config {
  dbPath: string;
  /**
   * IMAGE_CHECK_DATABASE_URL: the PostgreSQL store (postgres:// or postgresql://), shared by
   * replicas; unset: SQLite at `dbPath`. Holds the password: never print it (describeDatabaseUrl).
   */
  databaseUrl?: string;
  policyPath?: string;
  slack: {
    botToken?: string;
    signingSecret?: string;
    appToken?: string;
    apiUrl: string;
    itChannel?: string;
    approvers: string[];
  };
  port: number;
  dockerHost?: string;
  /** IMAGE_CHECK_AUDIT_ENGINE: the DOCKER_HOST that `serve` audits on the policy's `watch.auditIntervalMinutes`. */
  auditEngine?: string;
  dockerConfigDir: string;
  /** Docker Hub API base URL (for publisher look-ups); overridable for tests and mirrors. */
  hubApiUrl: string;
}

/** A configuration problem; `message` has one line per problem. */
export class ConfigError extends CodedError<"INVALID_CONFIG"> {
  constructor(readonly problems: string[]) {
    super("INVALID_CONFIG", problems.join("\n"));
  }
}

/**
 * Read the configuration every command shares. Variables only `serve` uses (PORT, SLACK_*,
 * IMAGE_CHECK_APPROVERS) are not judged here: a typo in a Slack setting must not stop `check` in
 * a CI pipeline. `serve` calls `readConfig` and reports those problems itself.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return readConfig(env).config;
}

/** The URL schemes node-postgres (and libpq) read as PostgreSQL. */
const POSTGRES_SCHEMES = new Set(["postgres:", "postgresql:"]);

/**
 * IMAGE_CHECK_DATABASE_URL, checked: undefined when unset or blank. A wrong value throws
 * ConfigError for every command (not only `serve`): a command that fell back to SQLite would
 * write to a store the replicas never read. The message never repeats the value, which holds a
 * password.
 */
export function databaseUrlOf(env: NodeJS.ProcessEnv): string | undefined {
  const text = env.IMAGE_CHECK_DATABASE_URL?.trim();
  if (!text) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError([
      "IMAGE_CHECK_DATABASE_URL: expected a postgres:// or postgresql:// URL (postgres://user:password@host:5432/db), got something that is not a URL",
    ]);
  }
  if (!POSTGRES_SCHEMES.has(url.protocol))
    throw new ConfigError([
      `IMAGE_CHECK_DATABASE_URL: expected a postgres:// or postgresql:// URL, got a "${url.protocol.slice(0, 20)}" URL`,
    ]);
  if (!url.hostname)
    throw new ConfigError([
      "IMAGE_CHECK_DATABASE_URL: the URL names no host (postgres://user:password@host:5432/db)",
    ]);
  return text;
}

/** A database URL fit to print: scheme, user, host, port and database, never the password. */
export function describeDatabaseUrl(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  const user = url.username ? `${url.username}@` : "";
  return `${url.protocol}//${user}${url.host}${url.pathname}`;
}

/**
 * Read the environment and list every problem with the variables `serve` needs, without
 * throwing: a wrong value is left out (its default applies) and named in `problems`, one line
 * each, naming the variable. The exception is IMAGE_CHECK_DATABASE_URL, which has no safe
 * default to fall back to: a wrong one throws ConfigError (databaseUrlOf).
 */
export function readConfig(env: NodeJS.ProcessEnv = process.env): { config: Config; problems: string[] } {
  const problems: string[] = [];
  const portText = env.PORT?.trim();
  let port = CONFIG_DEFAULTS.port;
  if (portText) {
    const n = Number(portText);
    if (!Number.isInteger(n) || n < 0 || n > 65535)
      problems.push(`PORT: expected a port number 0-65535, got "${portText}"`);
    else port = n;
  }
  let apiUrl = env.SLACK_API_URL?.trim() || CONFIG_DEFAULTS.slackApiUrl;
  try {
    const u = new URL(apiUrl);
    if (u.protocol !== "https:" && u.protocol !== "http:") throw new Error("scheme");
    if (!apiUrl.endsWith("/")) apiUrl += "/";
  } catch {
    problems.push(`SLACK_API_URL: expected an http(s) URL, got "${apiUrl}"`);
    apiUrl = CONFIG_DEFAULTS.slackApiUrl;
  }
  const approvers: string[] = [];
  for (const a of (env.IMAGE_CHECK_APPROVERS ?? "").split(",").map((s) => s.trim())) {
    if (!a) continue;
    // U... users, W... Enterprise Grid users, S... user groups.
    if (/^[USW][A-Z0-9]{2,}$/.test(a)) approvers.push(a);
    else problems.push(`IMAGE_CHECK_APPROVERS: "${a}" is not a Slack user id (U...) or user group id (S...)`);
  }
  const databaseUrl = databaseUrlOf(env);
  const config: Config = {
    dbPath: env.IMAGE_CHECK_DB?.trim() || CONFIG_DEFAULTS.db,
    ...(databaseUrl ? { databaseUrl } : {}),
    policyPath: env.IMAGE_CHECK_POLICY?.trim() || undefined,
    slack: {
      botToken: env.SLACK_BOT_TOKEN?.trim() || undefined,
      signingSecret: env.SLACK_SIGNING_SECRET?.trim() || undefined,
      appToken: env.SLACK_APP_TOKEN?.trim() || undefined,
      apiUrl,
      itChannel: env.IMAGE_CHECK_IT_CHANNEL?.trim() || undefined,
      approvers,
    },
    port,
    dockerHost: env.DOCKER_HOST?.trim() || undefined,
    auditEngine: env.IMAGE_CHECK_AUDIT_ENGINE?.trim() || undefined,
    dockerConfigDir: env.DOCKER_CONFIG?.trim() || join(env.HOME || homedir(), ".docker"),
    hubApiUrl: env.IMAGE_CHECK_HUB_URL?.trim() || "https://hub.docker.com/",
  };
  return { config, problems };
}
