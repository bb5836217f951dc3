/**
 * Reads the files of `check --file` and `pin`: regular files only (not /dev/zero, a FIFO or a
 * folder), at most FILE_LIMITS.maxBytes, UTF-8. Every problem is a FileError naming the file.
 */
import { constants } from "node:fs";
import { open } from "node:fs/promises";
import { FILE_LIMITS, FileError } from "../files/index.js";

/** The text of `path` (resolved against `cwd`), as `file` for messages. Throws FileError. */
export async function readInputFile(path: string, cwd: string): Promise<string> {
  const { resolve } = await import("node:path");
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; it is then refused as not a regular file.
    handle = await open(resolve(cwd, path), constants.O_RDONLY | constants.O_NONBLOCK);
    const stat = await handle.stat();
    if (!stat.isFile()) throw new FileError("UNREADABLE_FILE", `${path}: not a regular file`);
    if (stat.size > FILE_LIMITS.maxBytes)
      throw new FileError(
        "FILE_TOO_LARGE",
        `${path}: ${stat.size} bytes, larger than ${FILE_LIMITS.maxBytes}: not a file image-check reads`,
      );
    // Read one byte past the cap: a file that grew since stat is refused too.
    const buf = Buffer.alloc(FILE_LIMITS.maxBytes + 1);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    if (bytesRead > FILE_LIMITS.maxBytes)
      throw new FileError("FILE_TOO_LARGE", `${path}: larger than ${FILE_LIMITS.maxBytes} bytes`);
    return buf.subarray(0, bytesRead).toString("utf8");
  } catch (err) {
    if (err instanceof FileError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    throw new FileError("UNREADABLE_FILE", `${path}: cannot be read (${code})`, { cause: err });
  } finally {
    await handle?.close();
  }
}
