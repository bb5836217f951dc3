/**
 * Pure mapping from Docker Engine API answers to the shared fact model, so an image seen through
 * the engine reads exactly like the same image seen through its registry (STYLE.md, convention 1).
 * The engine's JSON is parsed with zod: a daemon is more trusted than a registry, but a proxy or an
 * engine-compatible API may still answer in another shape, and that must be BAD_RESPONSE, not a crash.
 */
import { z } from "zod";
import type { ContainerFacts, HistoryEntry, ImageConfigFacts, LayerFacts, Platform } from "../facts/model.js";
import { parseReference } from "../reference/parse.js";
import type { ImageReference } from "../reference/types.js";
import { configFacts as registryConfigFacts } from "../registry/image-config.js";

const stringList = z.array(z.string()).nullish();

/** `GET /images/{name}/json`, the fields used. */
export const imageInspectSchema = z.object({
  Id: z.string().min(1),
  RepoTags: stringList,
  RepoDigests: stringList,
  Created: z.string().nullish(),
  Author: z.string().nullish(),
  /** Same fields, spelled the same, as the image config's `config` (image-spec config.md); mapped by the registry's mapper. */
  Config: z.unknown(),
  Architecture: z.string().nullish(),
  Variant: z.string().nullish(),
  Os: z.string().nullish(),
  RootFS: z.object({ Layers: stringList }).nullish(),
  /** Present (API 1.48+) when the engine uses the containerd image store; `Id` then names this descriptor, not the config. */
  Descriptor: z.object({ digest: z.string() }).nullish(),
});
/** An image inspect answer. */
export type ImageInspect = z.infer<typeof imageInspectSchema>;

/** `GET /images/{name}/history`: newest step first. */
export const imageHistorySchema = z.array(
  z.object({
    Id: z.string().nullish(),
    Created: z.number().nullish(),
    CreatedBy: z.string().nullish(),
    Comment: z.string().nullish(),
    Size: z.number().nullish(),
  }),
);
/** An image history answer. */
export type ImageHistory = z.infer<typeof imageHistorySchema>;

/** `GET /distribution/{name}/json`: the registry's descriptor for the name, and the platforms it offers. */
export const distributionSchema = z.object({
  Descriptor: z.object({ mediaType: z.string().nullish(), digest: z.string(), size: z.number().nullish() }),
  Platforms: z
    .array(
      z.object({
        os: z.string().nullish(),
        architecture: z.string().nullish(),
        variant: z.string().nullish(),
      }),
    )
    .nullish(),
});
/** A distribution inspect answer. */
export type DistributionInspect = z.infer<typeof distributionSchema>;

/** `GET /containers/json`. */
export const containerListSchema = z.array(
  z.object({
    Id: z.string(),
    Names: stringList,
    State: z.string().nullish(),
    /** The image as the container was created from it (`nginx:1.27`, `repo@sha256:...`). */
    Image: z.string().nullish(),
    /** The image id (config digest in the classic store). */
    ImageID: z.string().nullish(),
  }),
);

/** `GET /containers/{id}/top`. */
export const containerTopSchema = z.object({
  Titles: z.array(z.string()).nullish(),
  Processes: z.array(z.array(z.string())).nullish(),
});

/** The runtime configuration of an inspected image, mapped exactly as the registry source maps a config blob. */
export function configFacts(inspect: ImageInspect): ImageConfigFacts {
  return registryConfigFacts(inspect.Config, {
    created: inspect.Created,
    author: inspect.Author,
    os: inspect.Os,
    architecture: inspect.Architecture,
    variant: inspect.Variant,
  });
}

/** The platform the engine recorded for the image. */
export function platformOf(inspect: ImageInspect): Platform {
  const p: Platform = { os: inspect.Os ?? "", architecture: inspect.Architecture ?? "" };
  if (inspect.Variant) p.variant = inspect.Variant;
  return p;
}

/** The platforms a distribution inspect lists; empty when it listed none. */
export function platformsOf(distribution: DistributionInspect): Platform[] {
  return (distribution.Platforms ?? []).map((d) => {
    const p: Platform = { os: d.os ?? "", architecture: d.architecture ?? "" };
    if (d.variant) p.variant = d.variant;
    return p;
  });
}

/**
 * Build instructions that only change the config, never the filesystem. Both builders mark their
 * steps `empty_layer`: the classic builder writes `/bin/sh -c #(nop)  ENV ...`, BuildKit `ENV ...`.
 */
const METADATA_ONLY =
  /^(?:\/bin\/sh -c #\(nop\)\s+)?(?:ENV|LABEL|USER|EXPOSE|CMD|ENTRYPOINT|VOLUME|HEALTHCHECK|STOPSIGNAL|SHELL|ARG|MAINTAINER|ONBUILD)\b/;

/**
 * Which history steps (oldest first) added a layer, given each step's size and the image's layer
 * count. The engine's history API drops the config's `empty_layer` flag: it reports Size 0 both
 * for an empty step and for a layer with no bytes in it (the classic builder's WORKDIR, a RUN that
 * changed nothing), so the flag is rebuilt from what it does say:
 * - a step with Size > 0 added a layer;
 * - the image has exactly `layerCount` non-empty steps (the engine pairs them with RootFS layers);
 * - the missing ones are zero-size steps that can write files (RUN, COPY, ADD, WORKDIR), newest
 *   first, since a locally built top (classic builder, zero-byte layers) usually sits on a pulled
 *   base whose empty steps were already dropped by BuildKit.
 * Exact whenever the zero-size writing steps number exactly the missing layers, which is every
 * classic-builder and every BuildKit image; a best guess only for mixed histories.
 */
export function inferLayerSteps(steps: { createdBy: string; size: number }[], layerCount: number): boolean[] {
  const addsLayer = steps.map((s) => s.size > 0);
  let missing = layerCount - addsLayer.filter(Boolean).length;
  const zeroSize = steps
    .map((s, i) => ({ i, writes: !METADATA_ONLY.test(s.createdBy) }))
    .filter(({ i }) => !addsLayer[i]);
  const ranked = [
    ...zeroSize.filter((s) => s.writes).reverse(),
    ...zeroSize.filter((s) => !s.writes).reverse(),
  ];
  for (const { i } of ranked) {
    if (missing <= 0) break;
    addsLayer[i] = true;
    missing--;
  }
  return addsLayer;
}

/** The engine's history (newest first, Size per step) as the config's history (oldest first, `emptyLayer`). */
export function historyFacts(
  history: ImageHistory,
  layerCount: number,
): { entries: HistoryEntry[]; stepSizes: number[] } {
  const oldestFirst = [...history].reverse();
  const steps = oldestFirst.map((h) => ({ createdBy: h.CreatedBy ?? "", size: h.Size ?? 0 }));
  const addsLayer = inferLayerSteps(steps, layerCount);
  const entries = oldestFirst.map((h, i): HistoryEntry => {
    const entry: HistoryEntry = { createdBy: steps[i]!.createdBy, emptyLayer: !addsLayer[i] };
    // The engine gives whole seconds; Go's zero time (an unset `created`) comes out negative.
    if (typeof h.Created === "number" && h.Created >= 0)
      entry.created = new Date(h.Created * 1000).toISOString();
    if (h.Comment) entry.comment = h.Comment;
    return entry;
  });
  return { entries, stepSizes: steps.filter((_, i) => addsLayer[i]).map((s) => s.size) };
}

/**
 * The layers by their uncompressed diff ids (the engine never knows the compressed blob digests),
 * sized by the history steps that added them when those pair up one to one, else 0 (unknown).
 */
export function layerFacts(inspect: ImageInspect, stepSizes: number[]): LayerFacts[] {
  const diffIds = inspect.RootFS?.Layers ?? [];
  const paired = stepSizes.length === diffIds.length;
  return diffIds.map((digest, i) => ({ digest, size: paired ? stepSizes[i]! : 0 }));
}

/**
 * The digest the image has in `ref`'s repository, from RepoDigests (`name@sha256:...`, familiar
 * names for Docker Hub). The digest the reference pins wins when the image carries it.
 */
export function repoDigestFor(ref: ImageReference, repoDigests: readonly string[]): string | undefined {
  const mine: string[] = [];
  for (const entry of repoDigests) {
    let parsed: ImageReference;
    try {
      parsed = parseReference(entry);
    } catch {
      continue;
    }
    if (parsed.digest && parsed.registry === ref.registry && parsed.repository === ref.repository)
      mine.push(parsed.digest);
  }
  if (ref.digest && mine.includes(ref.digest)) return ref.digest;
  return mine[0];
}

/** Containers as the shared model lists them (names without Docker's leading slash). */
export function containerFacts(list: z.infer<typeof containerListSchema>): ContainerFacts[] {
  return list.map((c) => ({
    id: c.Id,
    names: (c.Names ?? []).map((n) => n.replace(/^\//, "")),
    state: c.State ?? "",
  }));
}

/** A `top` answer in the shared shape. */
export function topFacts(top: z.infer<typeof containerTopSchema>): NonNullable<ContainerFacts["top"]> {
  return { titles: top.Titles ?? [], processes: top.Processes ?? [] };
}

/** A container on the engine as `audit` lists it: plain data, no dockerode type. */
export interface EngineContainer {
  id: string;
  /** The first name, without Docker's leading slash. */
  name: string;
  /** The image as the container was created from it. */
  image: string;
  imageId: string;
  state: string;
  /** The image's repo digests (`registry/repo@sha256:...`); empty for an image built here and never pushed or pulled. */
  repoDigests: string[];
}
