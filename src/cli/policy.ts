/**
 * `image-check policy --print-default` prints the built-in policy, commented; `policy --check
 * FILE` validates a policy file (exit 0, or 64 with the one-line error).
 */
import { oneLine } from "../errors.js";
import { type Command, parseArgs, UsageError } from "./args.js";
import { loadPolicy } from "./load-policy.js";

/** The command's --help text (main prints it for --help or -h). */
export const HELP = `Usage: image-check policy --print-default
       image-check policy --check FILE

  --print-default   print the built-in default policy as commented YAML (a starting point for your own)
  --check FILE      validate a policy file (YAML or JSON) and the key files it names; exit 0 when valid,
                    64 with a one-line error naming the field otherwise
  -h, --help        show this help

The policy is read from --policy FILE or IMAGE_CHECK_POLICY by the other commands; without either,
the built-in default applies.
`;

const FLAGS = {
  "print-default": { type: "boolean" },
  check: { type: "string" },
} as const;

/** The `policy` command. */
export const policyCommand: Command = async (argv, io) => {
  const { flags, positionals } = parseArgs("policy", argv, FLAGS);
  if (positionals.length)
    throw new UsageError(`unexpected argument "${positionals[0]}" (see image-check policy --help)`);
  if (flags["print-default"] && flags.check)
    throw new UsageError("use either --print-default or --check FILE");
  if (flags["print-default"]) {
    const { defaultPolicyText } = await import("../policy/parse.js");
    io.stdout(defaultPolicyText());
    return 0;
  }
  if (typeof flags.check === "string") {
    try {
      const { policy, source } = await loadPolicy(flags.check, io.env, io.cwd);
      const { policyVersion } = await import("../policy/evaluate.js");
      io.stdout(`${source}: valid (policy version ${policyVersion(policy)})\n`);
      return 0;
    } catch (err) {
      // Every policy problem (missing file, bad field, missing key file) is the user's to fix: 64.
      throw new UsageError(oneLine(err));
    }
  }
  throw new UsageError("expected --print-default or --check FILE (see image-check policy --help)");
};
