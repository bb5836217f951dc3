// What the PostgreSQL store adds beside the Store interface: its transaction.
import { describe, expect, it } from "vitest";
import { freshPgStore } from "./pg-support.js";
import { checkedRequest, T0 } from "./support.js";

describe("the PostgreSQL store's transaction", async () => {
  const { store } = await freshPgStore("transaction")();

  describe("when its function throws", () => {
    it("rolls back every store call made inside it, nested ones too", async () => {
      const req = await checkedRequest(store, { repository: "docker.io/library/tx" });
      const failure = new Error("boom");
      await expect(
        store.transaction(async () => {
          await store.setReason(req.id, "changed inside", T0);
          await store.transaction(async () => {
            await store.setItMessage(req.id, "C_IT", "1.2");
          });
          throw failure;
        }),
      ).rejects.toBe(failure);
      const after = await store.getRequest(req.id);
      expect(after?.reason).toBe("needed for the build");
      expect(after?.itMessage).toBeNull();
      expect((await store.audit(req.id)).map((e) => e.action)).toEqual([
        "request.created",
        "request.checked",
      ]);
    });
  });

  describe("when its function returns", () => {
    it("commits the calls together and returns its value", async () => {
      const req = await checkedRequest(store, { repository: "docker.io/library/tx2" });
      const out = await store.transaction(async () => {
        await store.setReason(req.id, "committed", T0);
        return "done";
      });
      expect(out).toBe("done");
      expect((await store.getRequest(req.id))?.reason).toBe("committed");
    });
  });
});
