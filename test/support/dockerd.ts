// A private Docker engine for engine-source tests: its own socket, data and exec roots, no
// networking changes on the host (no iptables, no bridge) and the vfs driver (works anywhere,
// including inside a container where overlayfs cannot be nested).
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Managed, spawnManaged, waitUntil } from "./processes.js";

/** A running private dockerd. */
export interface DockerdProcess {
  socket: string;
  dockerHost: string;
  managed: Managed;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 60_000;
// dockerd puts containerd's sockets (x/containerd/containerd.sock.ttrpc) under exec-root, and a
// unix socket path must stay under ~100 bytes.
const MAX_SHORT_DIR = 60;

/** GET /_ping on a unix socket; true on "OK". */
export function pingDocker(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath: socket, path: "/_ping", method: "GET", timeout: 2000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve(res.statusCode === 200 && Buffer.concat(chunks).toString() === "OK"));
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

/** Starts dockerd with everything under `dir`; resolves once /_ping answers OK. */
export async function startDockerd(dockerdBin: string, dir: string): Promise<DockerdProcess> {
  mkdirSync(dir, { recursive: true });
  // The socket and exec-root go in `dir` when its path is short, else in a short dir of their own.
  let shortDir = dir;
  if (dir.length > MAX_SHORT_DIR) {
    shortDir = mkdtempSync(join(tmpdir().length <= 20 ? tmpdir() : "/tmp", "icx-"));
  }
  const execRoot = join(shortDir, "x");
  const socket = join(shortDir, "d.sock");
  const args = [
    "--storage-driver=vfs",
    "--iptables=false",
    "--ip-masq=false",
    "--bridge=none",
    "-H",
    `unix://${socket}`,
    "--data-root",
    join(dir, "data"),
    "--exec-root",
    execRoot,
    "--pidfile",
    join(dir, "dockerd.pid"),
  ];
  const managed = spawnManaged(dockerdBin, args, join(dir, "dockerd.log"));
  try {
    await waitUntil(() => pingDocker(socket), managed, READY_TIMEOUT_MS, "dockerd");
  } catch (err) {
    await managed.stop(5000);
    throw err;
  }
  const stop = async (): Promise<void> => {
    await managed.stop(20_000);
    if (shortDir !== dir) rmSync(shortDir, { recursive: true, force: true });
  };
  return { socket, dockerHost: `unix://${socket}`, managed, stop };
}
