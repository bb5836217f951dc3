# The image-check Slack bot, built the way image-check advises others to build theirs:
# multi-stage (build tools never ship), a base pinned by digest under a descriptive tag, only
# production dependencies, a non-root user, OCI labels naming the source and revision, a
# HEALTHCHECK, and the database on a volume.
#
#   docker build \
#     --build-arg VERSION=$(node -p 'require("./package.json").version') \
#     --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg SOURCE=https://git.example.org/you/image-check \
#     -t image-check:$(node -p 'require("./package.json").version') .
#
# SOURCE (the repository's URL) is optional: without it the image has no source label rather than
# a guessed one.
#
# --- The base image --------------------------------------------------------------------------------
# Pinned by digest under a descriptive tag: the digest decides what is pulled, the tag says what it
# is. This digest is the node:20-bookworm-slim index as pinned by several public projects; it was
# written down without registry access here, so verify it once before relying on it, and refresh
# it deliberately (e.g. monthly, for security fixes) by the same command:
#   skopeo inspect --format '{{.Digest}}' docker://docker.io/library/node:20-bookworm-slim
#   (or: docker buildx imagetools inspect node:20-bookworm-slim --format '{{json .Manifest.Digest}}')
# and `image-check check` the result before committing the new pin.
ARG NODE_BASE=node:20-bookworm-slim@sha256:2cf067cfed83d5ea958367df9f966191a942351a2df77d6f0193e162b5febfc0

# The source repository URL for the org.opencontainers.image.source label. No default: a guessed
# URL would be a false claim about where the code lives. Without it the image has no source label.
ARG SOURCE

# --- build: every dependency once (better-sqlite3 compiles here, once, when no prebuilt binary
# fits), the program built, then everything the runtime does not need removed: dev dependencies
# (tsx, esbuild, TypeScript, vitest) and better-sqlite3's build leftovers (its C sources, the
# SQLite amalgamation and the object files, ~37 MB), keeping only the compiled addon.
FROM ${NODE_BASE} AS build
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY scripts ./scripts
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && cd node_modules/better-sqlite3 \
 && mv build/Release/better_sqlite3.node /tmp/ \
 && rm -rf build deps src \
 && mkdir -p build/Release \
 && mv /tmp/better_sqlite3.node build/Release/

# --- runtime: node, the built program, production node_modules, the migrations; nothing else
FROM ${NODE_BASE} AS runtime
# Global ARGs are seen by FROM lines only; the label below needs NODE_BASE declared in the stage.
ARG NODE_BASE
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="image-check" \
      org.opencontainers.image.description="Slack bot that checks container images before use, with one-click IT approval" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${NODE_BASE}"
ENV NODE_ENV=production \
    IMAGE_CHECK_DB=/data/image-check.db \
    PORT=3000
WORKDIR /app
COPY --from=build --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
COPY --chown=root:root package.json ./
COPY --chown=root:root migrations ./migrations
# The program is owned by root and read-only to the bot; only /data is the bot's to write.
RUN groupadd --system --gid 10001 imagecheck \
 && useradd --system --uid 10001 --gid imagecheck --home-dir /nonexistent --shell /usr/sbin/nologin imagecheck \
 && mkdir -p /data && chown imagecheck:imagecheck /data
VOLUME ["/data"]
USER 10001:10001
EXPOSE 3000
# No curl in the slim image: node itself asks /healthz (200 when the database answers and the workers run).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
# The image is the program: `docker run IMAGE check REF` runs a check, and with no arguments it serves.
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["serve"]

# --- the source label, only when SOURCE was given: `FROM` picks the stage by whether it is set.
FROM runtime AS source-
FROM runtime AS source-given
ARG SOURCE
LABEL org.opencontainers.image.source="${SOURCE}"
FROM source-${SOURCE:+given} AS final
