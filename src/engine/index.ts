/**
 * The Docker engine source. Only this folder imports dockerode; nothing of it is exported, so
 * dockerode stays an implementation detail (STYLE.md, "SDK or driver types leaking past an adapter").
 */
export { EngineError, type EngineErrorCode } from "./errors.js";
export type { EngineContainer } from "./map.js";
export {
  compareApiVersions,
  ENGINE_DEFAULTS,
  EngineSource,
  type EngineSourceOptions,
  negotiateApiVersion,
  type RegistryArtifactsLookup,
} from "./source.js";
export {
  DEFAULT_DOCKER_SOCKET,
  type EngineEndpoint,
  EngineHttpError,
  type EngineTransport,
  parseDockerHost,
} from "./transport.js";
