import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { COMMAND } from "../../src/slack/ids.js";

const ROOT = resolve(import.meta.dirname, "../..");
const manifest = parse(readFileSync(resolve(ROOT, "manifest.yml"), "utf8"));

// The scope each Web API method needs (https://docs.slack.dev/reference/methods); null: none.
// DMs go through chat.postMessage with the user id as the channel: Slack posts in the app's
// Messages tab, and the method needs chat:write only. A retried decision DM looks for its earlier
// self: conversations.open (im:write) finds the DM channel, conversations.history (im:history)
// reads it. The test below finds every method the app calls in src/slack/api.ts.
const SCOPES: Record<string, string[]> = {
  "chat.postMessage": ["chat:write"],
  "chat.postEphemeral": ["chat:write"],
  "chat.update": ["chat:write"],
  "views.open": [],
  "views.publish": [],
  "usergroups.users.list": ["usergroups:read"],
  // The IT channel may be public or private; a retried decision DM reads the DM's history.
  "conversations.history": ["channels:history", "groups:history", "im:history"],
  "conversations.open": ["im:write"],
  response_url: [],
};

describe("manifest.yml", () => {
  it("declares the slash command with a usage hint", () => {
    expect(manifest.features.slash_commands).toEqual([
      expect.objectContaining({
        command: COMMAND,
        usage_hint: expect.stringContaining("REF"),
        description: expect.any(String),
      }),
    ]);
  });

  it("turns on interactivity, the Home tab, the app_home_opened event and Socket Mode", () => {
    expect(manifest.settings.interactivity.is_enabled).toBe(true);
    expect(manifest.features.app_home.home_tab_enabled).toBe(true);
    expect(manifest.settings.event_subscriptions.bot_events).toEqual(["app_home_opened"]);
    expect(manifest.settings.socket_mode_enabled).toBe(true);
  });

  it("asks for exactly the bot scopes of the Web API methods the app calls", () => {
    const source = readFileSync(resolve(ROOT, "src/slack/api.ts"), "utf8");
    const methods = [...source.matchAll(/call\("([^"]+)"/g)].map((m) => m[1]!);
    expect(methods.length).toBeGreaterThan(0);
    for (const m of methods) expect(SCOPES, `scope of ${m}`).toHaveProperty([m]);
    const needed = new Set(["commands", ...methods.flatMap((m) => SCOPES[m]!)]);
    expect([...manifest.oauth_config.scopes.bot].sort()).toEqual([...needed].sort());
  });

  it("keeps a long description within Slack's bounds", () => {
    const long = manifest.display_information.long_description as string;
    expect(long.length).toBeGreaterThanOrEqual(175);
    expect(long.length).toBeLessThanOrEqual(4000);
  });
});
