// One gather's AbortSignal is shared by every request of the gather, dozens at once. These tests
// run many requests on one signal against a loopback server and count the signal's listeners:
// one per request used to trip Node's MaxListenersExceededWarning (15 per test run).
import { getEventListeners } from "node:events";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isCoded } from "../../src/errors.js";
import { AddressGuard } from "../../src/registry/guard.js";
import { onAbort, StatsRecorder, Transport } from "../../src/registry/transport.js";

const REQUESTS = 30;

let server: Server;
let host: string;
/** Answers held until every request has arrived, so they are all in flight at once. */
let held: (() => void)[] = [];
let arrived: () => void;
let allArrived: Promise<void>;

beforeEach(async () => {
  held = [];
  allArrived = new Promise((resolve) => {
    arrived = resolve;
  });
  server = createServer((_req, res) => {
    held.push(() => res.end("{}"));
    if (held.length === REQUESTS) arrived();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function transport(): Transport {
  return new Transport({ guard: new AddressGuard({ allowPrivate: [host] }), allowInsecure: [host] });
}

function requests(t: Transport, signal: AbortSignal): Promise<unknown>[] {
  const ctx = { stats: new StatsRecorder(), signal };
  return Array.from({ length: REQUESTS }, (_, i) =>
    t.send(
      { method: "GET", url: new URL(`http://${host}/v2/r/blobs/${i}`), kind: "blob", maxBytes: 64 },
      ctx,
    ),
  );
}

describe("the transport's use of a shared abort signal", () => {
  describe("when many requests run at once on one signal", () => {
    it("adds one abort listener in all, removes it when they end, and warns of no leak", async () => {
      const warnings: string[] = [];
      const onWarning = (w: Error) => warnings.push(w.name);
      process.on("warning", onWarning);
      const t = transport();
      const controller = new AbortController();
      try {
        const inFlight = requests(t, controller.signal);
        await allArrived;
        expect(getEventListeners(controller.signal, "abort")).toHaveLength(1);
        for (const answer of held) answer();
        await Promise.all(inFlight);
        expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
        // Warnings are emitted on the next tick.
        await new Promise((resolve) => setImmediate(resolve));
        expect(warnings).not.toContain("MaxListenersExceededWarning");
      } finally {
        process.off("warning", onWarning);
        t.close();
      }
    });
  });

  describe("when the signal aborts while they are in flight", () => {
    it("fails every one of them with ABORTED and leaves no listener", async () => {
      const t = transport();
      const controller = new AbortController();
      try {
        const inFlight = requests(t, controller.signal).map((p) =>
          p.then(
            () => "answered",
            (err: unknown) => (isCoded(err) ? err.code : String(err)),
          ),
        );
        await allArrived;
        controller.abort();
        expect(new Set(await Promise.all(inFlight))).toEqual(new Set(["ABORTED"]));
        expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
      } finally {
        t.close();
      }
    });
  });
});

describe("a request whose signal aborts while its address is resolved", () => {
  it("fails with ABORTED and sends nothing", async () => {
    const controller = new AbortController();
    const t = new Transport({
      guard: new AddressGuard({
        allowPrivate: ["registry.test"],
        resolver: async () => {
          controller.abort();
          return [{ address: "127.0.0.1", family: 4 }];
        },
      }),
      allowInsecure: ["registry.test"],
      // The loopback server stands in for registry.test.
      connector: (url, options) =>
        request(`http://${host}${url.pathname}`, { ...options, lookup: undefined }),
    });
    try {
      const answer = t.send(
        { method: "GET", url: new URL("http://registry.test/v2/"), kind: "ping", maxBytes: 64 },
        { stats: new StatsRecorder(), signal: controller.signal },
      );
      await expect(answer).rejects.toMatchObject({ code: "ABORTED" });
      expect(held).toHaveLength(0);
    } finally {
      t.close();
    }
  });
});

describe("onAbort", () => {
  it("calls each watcher once on abort, and not those that stopped watching", () => {
    const controller = new AbortController();
    const calls: string[] = [];
    const stopA = onAbort(controller.signal, () => calls.push("a"));
    onAbort(controller.signal, () => calls.push("b"));
    stopA();
    controller.abort();
    controller.abort();
    expect(calls).toEqual(["b"]);
  });
});
