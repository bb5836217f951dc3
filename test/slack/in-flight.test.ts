import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultPolicy } from "../../src/policy/schema.js";
import type { CheckRunner } from "../../src/worker/types.js";
import { command, craftedReport, type Harness, startHarness } from "../support/slack-harness.js";

/** Checks of `…/slow-…` images wait until the test lets them finish: they stay queued or running. */
function gatedRunner() {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const runner: CheckRunner = async ({ reference }) => {
    if (reference.includes("/slow-")) await gate;
    return craftedReport(reference);
  };
  return { runner, release: () => open() };
}

describe("the slash command, under limits.perUserInFlight", () => {
  let h: Harness;
  const gated = gatedRunner();
  beforeAll(async () => {
    h = await startHarness({ runner: gated.runner, policy: defaultPolicy() });
  });
  afterAll(async () => {
    gated.release();
    await h?.close();
  });

  const requestsBy = (userId: string) =>
    (
      h.db.sqlite.prepare("SELECT count(*) AS n FROM requests WHERE requested_by = ?").get(userId) as {
        n: number;
      }
    ).n;

  describe("when one user already has two checks queued or running", () => {
    it("refuses a third with an ephemeral note naming the count and the policy's limit, and writes nothing", async () => {
      expect(defaultPolicy().limits.perUserInFlight).toBe(2);
      for (const ref of ["team/slow-a:1", "team/slow-b:1"]) {
        const { ack } = await command(h, `${ref} build`, "UBUSY");
        expect(JSON.stringify(ack.json)).toContain("Checking");
      }
      const jobsBefore = (h.db.sqlite.prepare("SELECT count(*) AS n FROM jobs").get() as { n: number }).n;
      const audited = (h.db.sqlite.prepare("SELECT count(*) AS n FROM audit_log").get() as { n: number }).n;

      const { ack } = await command(h, "team/slow-c:1 build", "UBUSY");
      expect(ack.status).toBe(200);
      expect(ack.json).toMatchObject({ response_type: "ephemeral" });
      const text = JSON.stringify(ack.json);
      expect(text).toContain("2 checks queued or running");
      expect(text).toContain("limits.perUserInFlight");
      expect(text).toContain("Nothing was recorded");
      expect(requestsBy("UBUSY")).toBe(2);
      expect(
        (await h.bot.store.statusOf("docker.io/team/slow-c", { tag: "1" }, new Date())).request,
      ).toBeNull();
      expect(h.db.sqlite.prepare("SELECT count(*) AS n FROM jobs").get()).toEqual({
        n: jobsBefore,
      });
      expect(h.db.sqlite.prepare("SELECT count(*) AS n FROM audit_log").get()).toEqual({
        n: audited,
      });
    });

    it("still takes another user's check", async () => {
      const { ack } = await command(h, "team/pass-other:1 build", "UOTHER");
      expect(JSON.stringify(ack.json)).toContain("Checking");
      expect(requestsBy("UOTHER")).toBe(1);
    });

    it("still answers that user's queries", async () => {
      const { ack } = await command(h, "status team/slow-a:1", "UBUSY");
      expect(JSON.stringify(ack.json)).not.toContain("perUserInFlight");
    });

    it("takes that user's checks again once theirs have finished", async () => {
      gated.release();
      await h.bot.idle();
      expect(
        h.db.sqlite.prepare("SELECT count(*) AS n FROM requests WHERE status = 'checking'").get(),
      ).toEqual({ n: 0 });
      const { ack } = await command(h, "team/slow-d:1 build", "UBUSY");
      expect(JSON.stringify(ack.json)).toContain("Checking");
      expect(requestsBy("UBUSY")).toBe(3);
    });
  });

  describe("when several commands of one user arrive at once", () => {
    it("takes no more than the limit", async () => {
      const held = gatedRunner();
      const other = await startHarness({ runner: held.runner });
      try {
        const acks = await Promise.all(
          ["e", "f", "g", "h", "i"].map((x) =>
            command(other, `team/slow-${x}:1 build`, "URUSH").then((c) => JSON.stringify(c.ack.json)),
          ),
        );
        expect(acks.filter((a) => a.includes("Checking"))).toHaveLength(2);
        expect(acks.filter((a) => a.includes("perUserInFlight"))).toHaveLength(3);
        expect(
          other.db.sqlite.prepare("SELECT count(*) AS n FROM requests WHERE requested_by = 'URUSH'").get(),
        ).toEqual({ n: 2 });
      } finally {
        held.release();
        await other.close();
      }
    });
  });
});
