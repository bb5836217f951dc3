// Helpers shared by the registry tests: a RegistrySource allowed to reach the loopback testbed
// (which the address guard refuses by default), and request-log assertions.

import { isCoded } from "../../src/errors.js";
import { RegistrySource, type RegistrySourceOptions } from "../../src/registry/index.js";
import type { RecordedRequest } from "../support/proxy.js";

/** A source allowed (private + plain http) to reach `hosts`, with retries that do not wait. */
export function sourceFor(hosts: string[], options: RegistrySourceOptions = {}): RegistrySource {
  return new RegistrySource({
    allowPrivate: hosts,
    allowInsecure: hosts,
    sleep: async () => {},
    ...options,
  });
}

/** `METHOD path` of each recorded request, for exact comparisons. */
export function lines(requests: RecordedRequest[]): string[] {
  return requests.map((r) => `${r.method} ${r.path}`);
}

/** Paths requested more than once with the same method. */
export function repeated(requests: RecordedRequest[]): string[] {
  const seen = new Map<string, number>();
  for (const l of lines(requests)) seen.set(l, (seen.get(l) ?? 0) + 1);
  return [...seen].filter(([, n]) => n > 1).map(([l]) => l);
}

/** The `sha256-<hex>` tag of a digest. */
export function tagOf(digest: string, suffix = ""): string {
  return `${digest.replace(":", "-")}${suffix}`;
}

/** The code of the coded error `work` fails with, or undefined when it succeeds. */
export async function codeOf(work: Promise<unknown>): Promise<string | undefined> {
  try {
    await work;
    return undefined;
  } catch (err) {
    return isCoded(err) ? err.code : String(err);
  }
}
