// Waiting for something another process or a background worker does: ask again every 50 ms.

/**
 * Resolves with the first truthy answer of `probe` (awaited: a probe of the asynchronous store
 * returns a Promise, which is always truthy). Rejects after `limitMs` only so that a broken app
 * fails the test with a message instead of hanging it; it is not a timing assertion.
 */
export async function eventually<T>(
  probe: () => T | null | undefined | false | Promise<T | null | undefined | false>,
  what: string,
  limitMs = 20_000,
): Promise<T> {
  const deadline = performance.now() + limitMs;
  for (;;) {
    const answer = await probe();
    if (answer) return answer;
    if (performance.now() > deadline) throw new Error(`still waiting for ${what} after ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
