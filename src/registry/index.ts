/**
 * The registry module: the OCI distribution client and RegistrySource. The only module that talks
 * to registries.
 */
import type { Policy } from "../policy/schema.js";
import type { TokenCache } from "./auth.js";
import { dockerConfigCredentials } from "./credentials.js";
import { RegistrySource } from "./source.js";

export { MemoryTokenCache, parseWwwAuthenticate, type TokenCache } from "./auth.js";
export { digestOf, MANIFEST_ACCEPT, MEDIA, verifyDigest } from "./client.js";
export {
  anonymousCredentials,
  type Credential,
  type CredentialStore,
  dockerConfigCredentials,
  staticCredentials,
} from "./credentials.js";
export { RegistryError, type RegistryErrorDetail } from "./errors.js";
export { AddressGuard, blockedKind, type ResolvedAddress, type Resolver } from "./guard.js";
export { configFacts, historyFacts } from "./image-config.js";
export { type FoundArtifacts, pickPlatform, RegistrySource, type RegistrySourceOptions } from "./source.js";
export { type Connector, LIMITS } from "./transport.js";

/** A RegistrySource configured from the policy (private/insecure registries, notary) and Docker's config folder. */
export function registrySourceFromPolicy(
  policy: Policy,
  opts: { dockerConfigDir: string; env: NodeJS.ProcessEnv; tokenCache?: TokenCache },
): RegistrySource {
  return new RegistrySource({
    allowPrivate: policy.registries.allowPrivate,
    allowInsecure: policy.registries.allowInsecure,
    credentials: dockerConfigCredentials({ configDir: opts.dockerConfigDir, env: opts.env }),
    notary: policy.trust.notary,
    ...(opts.tokenCache ? { tokenCache: opts.tokenCache } : {}),
  });
}
