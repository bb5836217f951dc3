import { describe, expect, it } from "vitest";
import { ackFirst } from "../../src/slack/bot.js";
import type { JobContext, JobHandler } from "../../src/worker/types.js";

const ctx = (signal = new AbortController().signal) => ({ signal, attempt: 1, maxAttempts: 5 }) as JobContext;
const turns = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setTimeout(r, 5));
};

describe("ackFirst", () => {
  describe("when Slack requests are being answered", () => {
    it("holds the job until they are done", async () => {
      let busy = true;
      let started = false;
      const job: JobHandler = async () => {
        started = true;
        return "ran";
      };
      const running = (ackFirst(job, () => busy, 60_000) as JobHandler)({}, ctx());
      await turns(5);
      expect(started).toBe(false);
      busy = false;
      await expect(running).resolves.toBe("ran");
    });

    it("starts anyway once the job is aborted (shutdown, timeout)", async () => {
      const abort = new AbortController();
      const spec = ackFirst({ run: async () => "ran", onFailed: () => {} }, () => true, 60_000);
      const running = (spec as { run: JobHandler }).run({}, ctx(abort.signal));
      abort.abort();
      await expect(running).resolves.toBe("ran");
      expect(typeof (spec as { onFailed?: unknown }).onFailed).toBe("function");
    });
  });
});
