/**
 * Builds the ImageSource behind `--source registry|engine|auto` (../shared/CONTRACT.md,
 * "Commands"). The engine module is imported only for `engine` and `auto`: dockerode is heavy, and
 * `inspect --source registry` must not pay for it.
 */

import type { Config } from "../config.js";
import { isCoded } from "../errors.js";
import type { GatherOptions, ImageFacts, ImageSource } from "../facts/model.js";
import type { Policy } from "../policy/schema.js";
import type { ImageReference } from "../reference/types.js";
import { registrySourceFromPolicy } from "../registry/index.js";

/** The `--source` values. */
export type SourceKind = "registry" | "engine" | "auto";

/** Engine failures after which `auto` asks the registry instead: the image or the engine is simply not there. */
const FALL_BACK_ON = ["IMAGE_NOT_IN_ENGINE", "ENGINE_UNAVAILABLE"] as const;

/**
 * Asks the engine first and the registry when the engine has no such image or does not answer.
 * Any other engine failure (a timeout, a broken answer, an abort) is reported, not papered over.
 * `kind` is "engine", the source it prefers; each facts' `source` says which one answered.
 */
export class AutoSource implements ImageSource {
  readonly kind = "engine" as const;

  constructor(
    private readonly engine: ImageSource,
    private readonly registry: ImageSource,
  ) {}

  async gather(ref: ImageReference, options?: GatherOptions): Promise<ImageFacts> {
    try {
      return await this.engine.gather(ref, options);
    } catch (err) {
      if (!isCoded(err, ...FALL_BACK_ON)) throw err;
      return this.registry.gather(ref, options);
    }
  }
}

/** The source for `kind`, configured from the policy (private/insecure registries) and the environment. */
export async function createSource(
  kind: SourceKind,
  deps: { policy: Policy; config: Config; env: NodeJS.ProcessEnv },
): Promise<ImageSource> {
  const registry = registrySourceFromPolicy(deps.policy, {
    dockerConfigDir: deps.config.dockerConfigDir,
    env: deps.env,
  });
  if (kind === "registry") return registry;
  const { EngineSource } = await import("../engine/index.js");
  const engine = new EngineSource({
    ...(deps.config.dockerHost ? { dockerHost: deps.config.dockerHost } : {}),
    // An image found in the engine is still signed (or not) in its registry.
    registryArtifacts: (ref, digests, signal) => registry.findArtifacts(ref, digests, signal),
  });
  return kind === "engine" ? engine : new AutoSource(engine, registry);
}
