// A self-made Sigstore, for keyless signatures made offline: a Fulcio-like CA (self-signed root),
// a CT log that embeds an SCT in each leaf, and a Rekor log that signs inclusion promises (SETs)
// and checkpoints, all with fresh keys, plus the trusted_root.json that names them. What it
// signs has the exact shapes cosign writes for a keyless attestation: a Sigstore bundle v0.3
// (cosign 3, DSSE envelope, Rekor `dsse` entry) or a `.att` layer with cosign's certificate,
// chain and Rekor bundle annotations (cosign 2, Rekor `intoto` entry). Like the other fixtures it
// never imports src/: the verifier under test must not build its own input.
// Specs: RFC 5280 (X.509), RFC 6962 §3.2 (SCT over a precertificate) and §2.1.1 (Merkle audit
// paths), Fulcio docs/oid-info.md (issuer extensions), Rekor types dsse v0.0.1 and intoto v0.0.2,
// transparency-dev signed-note checkpoints, protobuf-specs TrustedRoot and Bundle.
import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign } from "node:crypto";

// ---------------------------------------------------------------------------------------------
// DER, only what certificates need (X.690 §8 with the DER restrictions of §10).

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), length(content.length), content]);
}

const seq = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));
const octets = (b: Buffer) => tlv(0x04, b);
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, "utf8"));
const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0x00]));
const bits = (b: Buffer, unused = 0) => tlv(0x03, Buffer.concat([Buffer.from([unused]), b]));
/** A context-specific tag: [n] EXPLICIT (constructed) or IMPLICIT over a primitive. */
const context = (n: number, content: Buffer, constructed: boolean) =>
  tlv((constructed ? 0xa0 : 0x80) | n, content);

function integer(value: Buffer): Buffer {
  let v = value;
  while (v.length > 1 && v[0] === 0 && (v[1] ?? 0) < 0x80) v = v.subarray(1);
  return tlv(0x02, (v[0] ?? 0) >= 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v);
}

function oid(dotted: string): Buffer {
  const [a = 0, b = 0, ...rest] = dotted.split(".").map(Number);
  const out = [40 * a + b];
  for (const n of rest) {
    const groups: number[] = [];
    for (let v = n; ; v = Math.floor(v / 128)) {
      groups.unshift((v % 128) | (groups.length > 0 ? 0x80 : 0));
      if (v < 128) break;
    }
    out.push(...groups);
  }
  return tlv(0x06, Buffer.from(out));
}

/** UTCTime (RFC 5280 §4.1.2.5.1: years before 2050), to the second. */
function utcTime(d: Date): Buffer {
  const iso = d.toISOString();
  const s = `${iso.slice(2, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return tlv(0x17, Buffer.from(s, "ascii"));
}

// ---------------------------------------------------------------------------------------------
// X.509

const OID = {
  ecdsaSha256: "1.2.840.10045.4.3.2",
  organization: "2.5.4.10",
  commonName: "2.5.4.3",
  subjectKeyId: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  authorityKeyId: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
  codeSigning: "1.3.6.1.5.5.7.3.3",
  /** Fulcio: the OIDC issuer, raw bytes (deprecated, still written). */
  fulcioIssuerV1: "1.3.6.1.4.1.57264.1.1",
  /** Fulcio: the OIDC issuer as a DER UTF8String. */
  fulcioIssuerV2: "1.3.6.1.4.1.57264.1.8",
  /** RFC 6962 §3.3: the embedded SCT list. */
  sctList: "1.3.6.1.4.1.11129.2.4.2",
} as const;

function name(parts: { organization: string; commonName: string }): Buffer {
  return seq(
    set(seq(oid(OID.organization), utf8(parts.organization))),
    set(seq(oid(OID.commonName), utf8(parts.commonName))),
  );
}

function extension(id: string, value: Buffer, critical = false): Buffer {
  return seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));
}

function spki(key: KeyObject): Buffer {
  return key.export({ type: "spki", format: "der" });
}

function keyId(key: KeyObject): Buffer {
  return createHash("sha1").update(spki(key)).digest();
}

function sha256(...parts: Buffer[]): Buffer {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
}

function tbsCertificate(fields: {
  serial: Buffer;
  issuer: Buffer;
  subject: Buffer;
  notBefore: Date;
  notAfter: Date;
  publicKey: KeyObject;
  extensions: Buffer[];
}): Buffer {
  return seq(
    context(0, integer(Buffer.from([2])), true),
    integer(fields.serial),
    seq(oid(OID.ecdsaSha256)),
    fields.issuer,
    seq(utcTime(fields.notBefore), utcTime(fields.notAfter)),
    fields.subject,
    spki(fields.publicKey),
    context(3, seq(...fields.extensions), true),
  );
}

function signCertificate(tbs: Buffer, issuerKey: KeyObject): Buffer {
  return seq(tbs, seq(oid(OID.ecdsaSha256)), bits(sign("sha256", tbs, issuerKey)));
}

/** PEM of a DER certificate. */
export function certificatePem(der: Buffer): string {
  const b64 = der.toString("base64").replace(/.{64}/g, "$&\n");
  return `-----BEGIN CERTIFICATE-----\n${b64.replace(/\n?$/, "\n")}-----END CERTIFICATE-----\n`;
}

// ---------------------------------------------------------------------------------------------
// The self-made Sigstore

/** A P-256 key pair. */
interface Pair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

function p256(): Pair {
  return generateKeyPairSync("ec", { namedCurve: "P-256" });
}

/** Who a keyless certificate names: its SAN (an email, or a URI such as a workflow) and OIDC issuer. */
export interface KeylessIdentity {
  subject: string;
  issuer: string;
}

/** One leaf certificate, as Fulcio issues it, with the key it certifies. */
export interface Leaf {
  der: Buffer;
  pem: string;
  privateKey: KeyObject;
}

/** A Rekor log entry as a bundle carries it (protobuf-specs TransparencyLogEntry, JSON form). */
export interface TlogEntry {
  logIndex: string;
  logId: { keyId: string };
  kindVersion: { kind: string; version: string };
  integratedTime: string;
  inclusionPromise: { signedEntryTimestamp: string };
  inclusionProof?: {
    logIndex: string;
    rootHash: string;
    treeSize: string;
    hashes: string[];
    checkpoint: { envelope: string };
  };
  canonicalizedBody: string;
}

/** A Fulcio-like CA, a CT log and a Rekor log, all made here. */
export interface FakeSigstore {
  caCertificate: Buffer;
  /** Issues a leaf for `identity`, valid `minutes` from `at` (Fulcio: 10), with an SCT embedded. */
  issue(identity: KeylessIdentity, at: Date, minutes?: number): Leaf;
  /** Records a canonicalized entry body at `at` and returns the entry with its SET and inclusion proof. */
  log(body: object, at: Date): TlogEntry;
  /** trusted_root.json naming this CA, CT log and Rekor log; `withoutCa` / `withoutCtlog` leave one out. */
  trustedRoot(opts?: { withoutCa?: boolean; withoutCtlog?: boolean }): object;
}

const FULCIO_SUBJECT = { organization: "sigstore.test", commonName: "sigstore" };
const REKOR_URL = "https://rekor.sigstore.test";
const CTFE_URL = "https://ctfe.sigstore.test";

/** Sigstore's canonical JSON for SETs and Rekor bodies: sorted keys, no spaces (RFC 8785 for these values). */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function u24(n: number): Buffer {
  return Buffer.from([(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
}

/** RFC 6962 §3.2: an SCT over the precertificate (the TBS without the SCT list), by the CT log. */
function signedCertificateTimestamp(ctlog: Pair, issuerKey: KeyObject, precertTbs: Buffer, at: Date): Buffer {
  const timestamp = Buffer.alloc(8);
  timestamp.writeBigUInt64BE(BigInt(at.getTime()));
  const signed = Buffer.concat([
    Buffer.from([0, 0]), // v1, certificate_timestamp
    timestamp,
    u16(1), // precert_entry
    sha256(spki(issuerKey)),
    u24(precertTbs.length),
    precertTbs,
    u16(0), // no extensions
  ]);
  const signature = sign("sha256", signed, ctlog.privateKey);
  return Buffer.concat([
    Buffer.from([0]),
    sha256(spki(ctlog.publicKey)),
    timestamp,
    u16(0),
    Buffer.from([4, 3]), // sha256, ecdsa
    u16(signature.length),
    signature,
  ]);
}

/** RFC 6962 §2.1: the Merkle tree hash of `leaves` (already leaf-hashed). */
function treeHash(leaves: Buffer[]): Buffer {
  if (leaves.length === 1) return leaves[0] as Buffer;
  const k = 2 ** Math.floor(Math.log2(leaves.length - 1));
  return sha256(Buffer.from([1]), treeHash(leaves.slice(0, k)), treeHash(leaves.slice(k)));
}

/** RFC 6962 §2.1.1: the audit path of leaf `m`, lowest level first. */
function auditPath(m: number, leaves: Buffer[]): Buffer[] {
  if (leaves.length <= 1) return [];
  const k = 2 ** Math.floor(Math.log2(leaves.length - 1));
  return m < k
    ? [...auditPath(m, leaves.slice(0, k)), treeHash(leaves.slice(k))]
    : [...auditPath(m - k, leaves.slice(k)), treeHash(leaves.slice(0, k))];
}

/** Makes a fresh Sigstore: new CA, CT log and Rekor keys, a CA valid a day either side of `now`. */
export function fakeSigstore(now: Date): FakeSigstore {
  const ca = p256();
  const ctlog = p256();
  const rekor = p256();
  const rekorLogId = sha256(spki(rekor.publicKey));
  const caName = name(FULCIO_SUBJECT);
  const caCertificate = signCertificate(
    tbsCertificate({
      serial: randomBytes(16),
      issuer: caName,
      subject: caName,
      notBefore: new Date(now.getTime() - 86_400_000),
      notAfter: new Date(now.getTime() + 86_400_000),
      publicKey: ca.publicKey,
      extensions: [
        extension(OID.keyUsage, bits(Buffer.from([0x06]), 1), true), // keyCertSign, cRLSign
        extension(OID.basicConstraints, seq(bool(true), integer(Buffer.from([1]))), true),
        extension(OID.subjectKeyId, octets(keyId(ca.publicKey))),
      ],
    }),
    ca.privateKey,
  );
  // Other entries in the log, so that the inclusion proof has a path to check.
  const leaves: Buffer[] = Array.from({ length: 5 }, () => sha256(Buffer.from([0]), randomBytes(32)));

  const issue = (identity: KeylessIdentity, at: Date, minutes = 10): Leaf => {
    const leaf = p256();
    const san = identity.subject.includes("://")
      ? context(6, Buffer.from(identity.subject, "ascii"), false) // uniformResourceIdentifier
      : context(1, Buffer.from(identity.subject, "ascii"), false); // rfc822Name
    const extensions = [
      extension(OID.keyUsage, bits(Buffer.from([0x80]), 7), true), // digitalSignature
      extension(OID.extKeyUsage, seq(oid(OID.codeSigning))),
      extension(OID.subjectKeyId, octets(keyId(leaf.publicKey))),
      extension(OID.authorityKeyId, seq(context(0, keyId(ca.publicKey), false))),
      extension(OID.subjectAltName, seq(san), true),
      extension(OID.fulcioIssuerV1, Buffer.from(identity.issuer, "ascii")),
      extension(OID.fulcioIssuerV2, utf8(identity.issuer)),
    ];
    const fields = {
      serial: randomBytes(20),
      issuer: caName,
      subject: seq(),
      notBefore: at,
      notAfter: new Date(at.getTime() + minutes * 60_000),
      publicKey: leaf.publicKey,
    };
    const sct = signedCertificateTimestamp(
      ctlog,
      ca.publicKey,
      tbsCertificate({ ...fields, extensions }),
      at,
    );
    const sctList = Buffer.concat([u16(sct.length + 2), u16(sct.length), sct]);
    const der = signCertificate(
      tbsCertificate({ ...fields, extensions: [...extensions, extension(OID.sctList, octets(sctList))] }),
      ca.privateKey,
    );
    return { der, pem: certificatePem(der), privateKey: leaf.privateKey };
  };

  const log = (body: object, at: Date): TlogEntry => {
    const canonical = Buffer.from(canonicalJson(body), "utf8");
    const index = leaves.length;
    leaves.push(sha256(Buffer.from([0]), canonical));
    // More entries after this one, as a real log has by the time anyone looks.
    for (let i = 0; i < 2; i++) leaves.push(sha256(Buffer.from([0]), randomBytes(32)));
    const integratedTime = Math.floor(at.getTime() / 1000);
    const set = sign(
      "sha256",
      Buffer.from(
        canonicalJson({
          body: canonical.toString("base64"),
          integratedTime,
          logID: rekorLogId.toString("hex"),
          logIndex: index,
        }),
      ),
      rekor.privateKey,
    );
    const root = treeHash(leaves);
    const note = `rekor.sigstore.test - 1\n${leaves.length}\n${root.toString("base64")}\n`;
    const noteSignature = Buffer.concat([
      rekorLogId.subarray(0, 4),
      sign("sha256", Buffer.from(note), rekor.privateKey),
    ]);
    return {
      logIndex: String(index),
      logId: { keyId: rekorLogId.toString("base64") },
      kindVersion: {
        kind: (body as { kind: string }).kind,
        version: (body as { apiVersion: string }).apiVersion,
      },
      integratedTime: String(integratedTime),
      inclusionPromise: { signedEntryTimestamp: set.toString("base64") },
      inclusionProof: {
        logIndex: String(index),
        rootHash: root.toString("base64"),
        treeSize: String(leaves.length),
        hashes: auditPath(index, leaves).map((h) => h.toString("base64")),
        checkpoint: { envelope: `${note}\n\u2014 rekor.sigstore.test ${noteSignature.toString("base64")}\n` },
      },
      canonicalizedBody: canonical.toString("base64"),
    };
  };

  const validFrom = new Date(now.getTime() - 86_400_000).toISOString();
  const logKey = (key: KeyObject) => ({
    rawBytes: spki(key).toString("base64"),
    keyDetails: "PKIX_ECDSA_P256_SHA_256",
    validFor: { start: validFrom },
  });
  const trustedRoot = (opts: { withoutCa?: boolean; withoutCtlog?: boolean } = {}): object => ({
    mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
    tlogs: [
      {
        baseUrl: REKOR_URL,
        hashAlgorithm: "SHA2_256",
        publicKey: logKey(rekor.publicKey),
        logId: { keyId: rekorLogId.toString("base64") },
      },
    ],
    certificateAuthorities: opts.withoutCa
      ? []
      : [
          {
            subject: FULCIO_SUBJECT,
            uri: "https://fulcio.sigstore.test",
            certChain: { certificates: [{ rawBytes: caCertificate.toString("base64") }] },
            validFor: { start: validFrom },
          },
        ],
    ctlogs: opts.withoutCtlog
      ? []
      : [
          {
            baseUrl: CTFE_URL,
            hashAlgorithm: "SHA2_256",
            publicKey: logKey(ctlog.publicKey),
            logId: { keyId: sha256(spki(ctlog.publicKey)).toString("base64") },
          },
        ],
    timestampAuthorities: [],
  });

  return { caCertificate, issue, log, trustedRoot };
}

// ---------------------------------------------------------------------------------------------
// What cosign writes for a keyless attestation

const IN_TOTO = "application/vnd.in-toto+json";

function pae(payloadType: string, payload: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${Buffer.byteLength(payloadType)} ${payloadType} ${payload.length} `),
    payload,
  ]);
}

/** A DSSE envelope of `statement` signed by the leaf's key (as cosign: ECDSA P-256, SHA-256, ASN.1 DER). */
function envelopeOf(statement: object, leaf: Leaf) {
  const payload = Buffer.from(JSON.stringify(statement));
  const sig = sign("sha256", pae(IN_TOTO, payload), leaf.privateKey);
  return {
    payload,
    sig,
    envelope: {
      payloadType: IN_TOTO,
      payload: payload.toString("base64"),
      signatures: [{ keyid: "", sig: sig.toString("base64") }],
    },
  };
}

/**
 * cosign 3 `attest` keyless: a Sigstore bundle v0.3 whose DSSE envelope holds `statement`,
 * with the leaf certificate and a Rekor `dsse` v0.0.1 entry (SET and inclusion proof).
 * `loggedAt` records the entry at another time than the certificate was issued (default: the same).
 */
export function keylessBundle(
  sigstore: FakeSigstore,
  identity: KeylessIdentity,
  statement: object,
  at: Date,
  opts: { loggedAt?: Date } = {},
): Record<string, unknown> {
  const leaf = sigstore.issue(identity, at);
  const { payload, sig, envelope } = envelopeOf(statement, leaf);
  const body = {
    apiVersion: "0.0.1",
    kind: "dsse",
    spec: {
      envelopeHash: {
        algorithm: "sha256",
        value: sha256(Buffer.from(JSON.stringify(envelope))).toString("hex"),
      },
      payloadHash: { algorithm: "sha256", value: sha256(payload).toString("hex") },
      signatures: [{ signature: sig.toString("base64"), verifier: Buffer.from(leaf.pem).toString("base64") }],
    },
  };
  return {
    mediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
    verificationMaterial: {
      certificate: { rawBytes: leaf.der.toString("base64") },
      tlogEntries: [sigstore.log(body, opts.loggedAt ?? at)],
    },
    dsseEnvelope: envelope,
  };
}

/**
 * cosign 2 `attest` keyless: the `.att` layer (a DSSE envelope) and its annotations: the leaf
 * certificate, the CA chain, and the Rekor bundle (`intoto` v0.0.2 entry and its SET).
 */
export function keylessAttLayer(
  sigstore: FakeSigstore,
  identity: KeylessIdentity,
  statement: object,
  at: Date,
): { envelope: Buffer; annotations: Record<string, string> } {
  const leaf = sigstore.issue(identity, at);
  const { payload, sig, envelope } = envelopeOf(statement, leaf);
  const envelopeBytes = Buffer.from(JSON.stringify(envelope));
  // Rekor's intoto v0.0.2 body keeps the envelope without its payload, the signature base64 twice.
  const body = {
    apiVersion: "0.0.2",
    kind: "intoto",
    spec: {
      content: {
        envelope: {
          payloadType: IN_TOTO,
          signatures: [
            {
              publicKey: Buffer.from(leaf.pem).toString("base64"),
              sig: Buffer.from(sig.toString("base64")).toString("base64"),
            },
          ],
        },
        hash: { algorithm: "sha256", value: sha256(envelopeBytes).toString("hex") },
        payloadHash: { algorithm: "sha256", value: sha256(payload).toString("hex") },
      },
    },
  };
  const entry = sigstore.log(body, at);
  const rekorBundle = {
    SignedEntryTimestamp: entry.inclusionPromise.signedEntryTimestamp,
    Payload: {
      body: entry.canonicalizedBody,
      integratedTime: Number(entry.integratedTime),
      logIndex: Number(entry.logIndex),
      logID: Buffer.from(entry.logId.keyId, "base64").toString("hex"),
    },
  };
  return {
    envelope: envelopeBytes,
    annotations: {
      "dev.cosignproject.cosign/signature": "",
      "dev.sigstore.cosign/certificate": leaf.pem,
      "dev.sigstore.cosign/chain": certificatePem(sigstore.caCertificate),
      "dev.sigstore.cosign/bundle": JSON.stringify(rekorBundle),
      predicateType: String((statement as { predicateType?: unknown }).predicateType ?? ""),
    },
  };
}
