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

  describe("when a transaction inside it throws and the outer function goes on", () => {
    it("rolls back the inner calls only, and commits the rest", async () => {
      const req = await checkedRequest(store, { repository: "docker.io/library/tx-inner" });
      await store.transaction(async () => {
        await store.setReason(req.id, "kept", T0);
        await expect(
          store.transaction(async () => {
            await store.setItMessage(req.id, "C_IT", "1.2");
            throw new Error("inner");
          }),
        ).rejects.toThrow("inner");
      });
      const after = await store.getRequest(req.id);
      expect(after?.reason).toBe("kept");
      expect(after?.itMessage).toBeNull();
    });

    it("rolls back an inner transaction opened before any call of the savepoint around it", async () => {
      const req = await checkedRequest(store, { repository: "docker.io/library/tx-first" });
      await store.transaction(async () => {
        await store.setReason(req.id, "outer", T0);
        await store.transaction(async () => {
          // The first thing in this savepoint: the inner transaction shares it.
          await expect(
            store.transaction(async () => {
              await store.setItMessage(req.id, "C_IT", "1.2");
              throw new Error("inner");
            }),
          ).rejects.toThrow("inner");
          await store.setReason(req.id, "middle, after the inner one failed", T0);
        });
      });
      const after = await store.getRequest(req.id);
      expect(after?.reason).toBe("middle, after the inner one failed");
      expect(after?.itMessage).toBeNull();
    });

    it("rolls back a committed inner transaction with the savepoint around it when that one throws", async () => {
      const req = await checkedRequest(store, { repository: "docker.io/library/tx-around" });
      await store.transaction(async () => {
        await store.setReason(req.id, "outer", T0);
        await expect(
          store.transaction(async () => {
            await store.transaction(async () => {
              await store.setItMessage(req.id, "C_IT", "1.2");
            });
            throw new Error("middle");
          }),
        ).rejects.toThrow("middle");
      });
      const after = await store.getRequest(req.id);
      expect(after?.reason).toBe("outer");
      expect(after?.itMessage).toBeNull();
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
