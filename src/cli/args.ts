/**
 * A strict argument parser shared by every command: unknown flags and missing values are usage
 * errors (exit 64), never ignored.
 */
import { CodedError } from "../errors.js";

/** Exit codes of the contract (../shared/CONTRACT.md, "Commands"). */
export const EXIT = { pass: 0, review: 1, block: 2, couldNotCheck: 3, usage: 64, internal: 70 } as const;

/** A usage error: a bad flag, a missing value, a wrong count of positionals. Exit 64. */
export class UsageError extends CodedError<"USAGE"> {
  constructor(message: string) {
    super("USAGE", message);
  }
}

/** The flags a command accepts: boolean flags, or flags taking a value (optionally from a fixed set). */
export type FlagSpec = Record<
  string,
  { type: "boolean" } | { type: "string"; choices?: readonly string[]; multiple?: boolean }
>;

/** Parsed arguments. */
export interface ParsedArgs {
  /** A `multiple` flag's values are a string[] (in the order given). */
  flags: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** Parse `argv` (without the command name) against `spec`. `--flag=value` and `--flag value` both work. */
export function parseArgs(command: string, argv: readonly string[], spec: FlagSpec): ParsedArgs {
  const flags: ParsedArgs["flags"] = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = (eq === -1 ? arg : arg.slice(0, eq)).replace(/^--?/, "");
    const def = spec[name];
    if (!def)
      throw new UsageError(
        `unknown flag ${eq === -1 ? arg : arg.slice(0, eq)} (see image-check ${command} --help)`,
      );
    if (def.type === "boolean") {
      if (eq !== -1) throw new UsageError(`--${name} takes no value`);
      flags[name] = true;
      continue;
    }
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      i++;
    }
    if (value === undefined || value === "") throw new UsageError(`--${name} needs a value`);
    if (def.choices && !def.choices.includes(value))
      throw new UsageError(`--${name} must be one of ${def.choices.join(", ")}, got "${value}"`);
    if (def.multiple) flags[name] = [...((flags[name] as string[] | undefined) ?? []), value];
    else flags[name] = value;
  }
  return { flags, positionals };
}

/** Where a command writes. Injected so tests can capture output without spawning. */
export interface CliIO {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  /** Whether stdout is a terminal (for colour). */
  isTTY: boolean;
  cwd: string;
}

/** A command: returns its exit code. */
export type Command = (argv: string[], io: CliIO) => Promise<number>;
