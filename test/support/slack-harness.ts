// The real bot (store with migrations, workers, Bolt app in HTTP mode) on a random loopback port,
// its Web API pointed at the fake Slack, a fresh temp database, and a CheckRunner the test chooses.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Report } from "../../src/checks/report.js";
import { loadConfig } from "../../src/config.js";
import { defaultPolicy, type Policy } from "../../src/policy/schema.js";
import type { AppLogger } from "../../src/slack/app.js";
import { type Bot, startBot } from "../../src/slack/bot.js";
import type { Db } from "../../src/store/db.js";
import { type OpenedStore, sqliteStoreOf } from "../../src/store/service.js";
import type { CheckRunner } from "../../src/worker/types.js";
import { type FakeSlack, type SlackCall, startFakeSlack } from "./fake-slack.js";
import { makeReport } from "./slack-fixtures.js";
import { type SlackTarget, sendClick, sendCommand } from "./slack-requests.js";

/** The IT channel of every harness. */
export const IT_CHANNEL = "C0IT";
/** Approvers: two users and one user group (members set per test on the fake). */
export const APPROVERS = ["UAPPROVER", "UBOSS", "SAPPROVERS"];
const SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5";

/** A running harness. */
export interface Harness {
  fake: FakeSlack;
  bot: Bot;
  /** The bot's SQLite database, for raw SQL in tests (throws when the bot runs on PostgreSQL). */
  readonly db: Db;
  target: SlackTarget;
  logs: string[];
  close(): Promise<void>;
}

/** Options: the runner (default: a crafted report whose verdict is named in the reference), env overrides. */
export interface HarnessOptions {
  runner?: CheckRunner;
  /** A runner built over the bot's store (the production pipeline needs it for `tag.moved`). */
  runnerFor?: (store: OpenedStore) => CheckRunner;
  env?: Record<string, string>;
  policy?: Policy;
  now?: () => Date;
  /** A fake Slack to share with other harnesses (replicas of one app); the harness then leaves it open. */
  fake?: FakeSlack;
  /** How often the watch schedule runs (BotOptions.watchTickMs). */
  watchTickMs?: number;
}

/**
 * The default runner: `…/pass-…`, `…/block-…` and anything else (review) get a crafted report of
 * that verdict, so tests choose the verdict by naming the image.
 */
export const craftedRunner: CheckRunner = async ({ reference }) => craftedReport(reference);

/** The crafted report the default runner returns for `reference`. */
export function craftedReport(reference: string): Report {
  const verdict = /(^|\/)pass-/.test(reference)
    ? "pass"
    : /(^|\/)block-/.test(reference)
      ? "block"
      : "review";
  return makeReport(reference, verdict);
}

/** Start the fake Slack (or take the shared one) and the bot against it. */
export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const fake = options.fake ?? (await startFakeSlack());
  const closeFake = options.fake ? async () => {} : () => fake.close();
  const dir = mkdtempSync(join(tmpdir(), "image-check-slack-"));
  const logs: string[] = [];
  const logger: AppLogger = {
    debug: () => {},
    info: (m) => logs.push(`info ${m}`),
    warn: (m) => logs.push(`warn ${m}`),
    error: (m) => logs.push(`error ${m}`),
  };
  const config = loadConfig({
    SLACK_BOT_TOKEN: "xoxb-test-token",
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: fake.apiUrl,
    IMAGE_CHECK_IT_CHANNEL: IT_CHANNEL,
    IMAGE_CHECK_APPROVERS: APPROVERS.join(","),
    IMAGE_CHECK_DB: join(dir, "image-check.db"),
    PORT: "0",
    HOME: dir,
    ...options.env,
  });
  try {
    const bot = await startBot({
      config,
      policy: options.policy ?? defaultPolicy(),
      policyVersion: "test-policy",
      runner: options.runnerFor ?? (() => options.runner ?? craftedRunner),
      logger,
      host: "127.0.0.1",
      now: options.now,
      worker: { backoff: { baseMs: 5, maxMs: 20 }, pollMs: 50 },
      ...(options.watchTickMs ? { watchTickMs: options.watchTickMs } : {}),
    });
    return {
      fake,
      bot,
      get db() {
        return sqliteStoreOf(bot.store).db;
      },
      target: { baseUrl: `http://127.0.0.1:${bot.port}`, signingSecret: SIGNING_SECRET },
      logs,
      async close() {
        await bot.stop({ graceMs: 1000 });
        await closeFake();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await closeFake();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** The text of every mrkdwn/plain text in a recorded call or response body, joined. */
export function textOf(body: Record<string, unknown>): string {
  return JSON.stringify(body);
}

/** The action ids and values of the buttons in a message body. */
export function buttonsOf(body: Record<string, unknown>): { actionId: string; value: string }[] {
  const blocks = (body.blocks ?? (body.view as { blocks?: unknown[] } | undefined)?.blocks ?? []) as {
    type: string;
    elements?: { action_id?: string; value?: string }[];
  }[];
  return blocks
    .filter((b) => b.type === "actions")
    .flatMap((b) => b.elements ?? [])
    .map((e) => ({ actionId: e.action_id ?? "", value: e.value ?? "" }));
}

/** The first recorded ok call of `method` matching `where`. */
export function callTo(fake: FakeSlack, method: string, where: (c: SlackCall) => boolean = () => true) {
  return fake.ok(method).find(where);
}

/** Run `/image-check text` as `userId`: the ack, and a wait for what later replaces the "checking…" message. */
export async function command(h: Harness, text: string, userId = "UREQUESTER") {
  const responseUrl = h.fake.responseUrl();
  const ack = await sendCommand(h.target, { text, userId, responseUrl });
  const id = responseUrl.slice(responseUrl.lastIndexOf("/") + 1);
  return {
    ack,
    answer: () => h.fake.until(() => h.fake.responses.find((r) => r.id === id), `the answer to ${text}`),
  };
}

/** The IT channel message that mentions `fragment`, once posted. */
export function itMessage(h: Harness, fragment: string) {
  return h.fake.until(
    () =>
      h.fake
        .ok("chat.postMessage")
        .find((c) => c.body.channel === IT_CHANNEL && JSON.stringify(c.body).includes(fragment)),
    `the IT message for ${fragment}`,
  );
}

/** Ask for `reference` with a reason and wait for its IT message: the ack, the post and the request id on its buttons. */
export async function requestToIt(h: Harness, reference: string, userId = "UREQUESTER") {
  const { ack } = await command(h, `${reference} build the docs`, userId);
  const post = await itMessage(h, reference);
  return { ack, post, requestId: buttonsOf(post.body)[0]!.value };
}

/** Click a button under a message as `userId`, and wait for the ephemeral note sent back through its response_url. */
export async function clickAndNote(h: Harness, actionId: string, requestId: string, userId: string) {
  const responseUrl = h.fake.responseUrl();
  const reply = await sendClick(h.target, { actionId, value: requestId, userId, responseUrl });
  const id = responseUrl.slice(responseUrl.lastIndexOf("/") + 1);
  return {
    reply,
    note: await h.fake.until(() => h.fake.responses.find((r) => r.id === id), `the note to ${userId}`),
  };
}
