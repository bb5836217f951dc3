/**
 * Reads a file a user named (a policy, a key, a trusted root) without trusting what the name points
 * at. `readFile` on /dev/zero, /dev/urandom or a FIFO never ends and grows until the process dies
 * (7.7 GB RSS was measured for a key path of /dev/zero), so only regular files are read, and only up
 * to a cap: a file that grows while it is read is cut at the cap and refused.
 */
import { constants } from "node:fs";
import { open } from "node:fs/promises";
import { CodedError } from "./errors.js";

/** Why a named file could not be read; the message is the reason only, callers name file and field. */
export class NamedFileError extends CodedError<"NOT_FOUND" | "NOT_REGULAR" | "TOO_LARGE" | "UNREADABLE"> {}

/** The bytes of the regular file at `path`, at most `maxBytes` of them; throws NamedFileError. */
export async function readRegularFile(path: string, maxBytes: number): Promise<Buffer> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever.
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new NamedFileError("NOT_FOUND", "does not exist", { cause: err });
    throw new NamedFileError("UNREADABLE", `cannot be read (${code ?? "error"})`, { cause: err });
  }
  try {
    // fstat of the opened handle, not stat of the name: the name may be swapped in between.
    const stat = await handle.stat();
    if (!stat.isFile()) throw new NamedFileError("NOT_REGULAR", "is not a regular file");
    if (stat.size > maxBytes) throw new NamedFileError("TOO_LARGE", `is larger than ${maxBytes} bytes`);
    // One byte past the size tells a file that grew since fstat (refused: it is not what was sized).
    const buf = Buffer.alloc(stat.size + 1);
    let length = 0;
    while (length < buf.byteLength) {
      const { bytesRead } = await handle.read(buf, length, buf.byteLength - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > stat.size) throw new NamedFileError("UNREADABLE", "changed while it was read");
    return buf.subarray(0, length);
  } catch (err) {
    if (err instanceof NamedFileError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new NamedFileError("UNREADABLE", `cannot be read (${code ?? "error"})`, { cause: err });
  } finally {
    await handle.close();
  }
}
