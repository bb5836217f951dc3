import { describe, expect, it } from "vitest";
import { parseCommandText } from "../../src/slack/listeners/commands/parse.js";

describe("parseCommandText", () => {
  it.each([
    ["", { kind: "help" }],
    ["help", { kind: "help" }],
    ["  --help ", { kind: "help" }],
    ["pending", { kind: "pending" }],
    ["PENDING", { kind: "pending" }],
    ["pending now", { kind: "usage" }],
    [
      "status nginx:1.27",
      { kind: "status", reference: { registry: "docker.io", repository: "library/nginx", tag: "1.27" } },
    ],
    ["status", { kind: "usage" }],
    ["status a b", { kind: "usage" }],
    [
      "history ghcr.io/acme/app",
      { kind: "history", reference: { registry: "ghcr.io", repository: "acme/app" } },
    ],
    ["history", { kind: "usage" }],
    ["nginx:1.27", { kind: "check", reason: null, reference: { repository: "library/nginx", tag: "1.27" } }],
    [
      "nginx:1.27   build  the docs ",
      { kind: "check", reason: "build  the docs", reference: { tag: "1.27" } },
    ],
    [
      "127.0.0.1:5000/team/app:1 <!channel> now",
      { kind: "check", reason: "<!channel> now", reference: { registry: "127.0.0.1:5000" } },
    ],
    ["Not_A_Ref", { kind: "usage" }],
    ["status UPPER", { kind: "usage" }],
  ])("reads %j", (text, expected) => {
    expect(parseCommandText(text)).toMatchObject(expected);
  });

  it("keeps the reason to what the IT message can show", () => {
    const parsed = parseCommandText(`nginx:1 ${"x".repeat(2000)}`);
    expect(parsed.kind === "check" && parsed.reason?.length).toBe(500);
  });
});
