import { describe, expect, it } from "vitest";
import { historyChecks } from "../../src/checks/history.js";
import type { Finding } from "../../src/checks/types.js";
import { cleanContext, cleanFacts } from "../support/facts.js";

const GITHUB = `ghp_${"x1Y2z3".repeat(6)}`;
const GITLAB = "glpat-abcdefghij0123456789";

/** Run the history checks over one history line (besides nothing else). */
function run(createdBy: string, env?: string[]): Finding[] {
  const facts = cleanFacts();
  facts.history = [{ createdBy, emptyLayer: false }];
  if (env) facts.config.env = env;
  return historyChecks(facts, cleanContext());
}

const ids = (fs: Finding[]) => [...new Set(fs.map((f) => f.id))].sort();

type Row = [string, string, string[]];

function table(rows: Row[]) {
  it.each(rows)("%s", (_what, line, expected) => {
    expect(ids(run(line))).toEqual([...expected].sort());
  });
}

describe("history checks", () => {
  describe("history.remote-script", () => {
    describe("when a step runs downloaded code", () => {
      table([
        ["legacy curl | sh", "/bin/sh -c curl -fsSL https://get.example.com | sh", ["history.remote-script"]],
        [
          "BuildKit curl | bash",
          "RUN /bin/sh -c curl -fsSL https://example.com/install.sh | bash # buildkit",
          ["history.remote-script"],
        ],
        ["wget -qO- | sh", "/bin/sh -c wget -qO- https://example.com/i.sh | sh", ["history.remote-script"]],
        [
          "wget -O - | bash -s --",
          "/bin/sh -c wget -O - https://example.com/i.sh | bash -s -- --yes",
          ["history.remote-script"],
        ],
        [
          "curl | sudo bash",
          "/bin/sh -c curl -sSL https://example.com/i.sh | sudo bash",
          ["history.remote-script", "history.sudo"],
        ],
        ["curl |& sh", "/bin/sh -c curl -fsSL https://example.com/i.sh |& sh", ["history.remote-script"]],
        [
          "curl | python3 -",
          "/bin/sh -c curl -fsSL https://example.com/get-pip.py | python3 -",
          ["history.remote-script"],
        ],
        [
          'sh -c "$(curl ...)"',
          'RUN /bin/sh -c sh -c "$(curl -fsSL https://example.com/install.sh)" # buildkit',
          ["history.remote-script"],
        ],
        [
          'bash -c "$(wget -qO- ...)"',
          '/bin/sh -c bash -c "$(wget -qO- https://example.com/i.sh)"',
          ["history.remote-script"],
        ],
        [
          'eval "$(curl ...)"',
          '/bin/sh -c eval "$(curl -fsSL https://example.com/env.sh)"',
          ["history.remote-script"],
        ],
        [
          "python3 <(curl ...)",
          "/bin/sh -c python3 <(curl -s https://example.com/x.py)",
          ["history.remote-script"],
        ],
        [
          "bash <(curl ...)",
          "/bin/sh -c bash <(curl -s https://example.com/x.sh)",
          ["history.remote-script"],
        ],
        [
          "inside an && chain",
          "/bin/sh -c apt-get update && apt-get install -y curl && curl -fsSL https://deb.nodesource.com/setup_20.x | bash - && rm -rf /var/lib/apt/lists/*",
          ["history.remote-script"],
        ],
        [
          "across line continuations",
          "/bin/sh -c apt-get update \\\n  && curl -fsSL https://example.com/i.sh \\\n  | bash",
          ["history.remote-script"],
        ],
        [
          "with build args in scope",
          "|1 VERSION=1.2.3 /bin/sh -c curl -fsSL https://example.com/$VERSION/i.sh | sh",
          ["history.remote-script"],
        ],
        [
          "behind RUN --mount flags",
          "RUN --mount=type=cache,target=/root/.cache /bin/sh -c curl -fsSL https://example.com/i.sh | sh # buildkit",
          ["history.remote-script"],
        ],
        [
          "under a pipefail SHELL",
          "RUN /bin/bash -o pipefail -c curl -fsSL https://example.com/i.sh | bash # buildkit",
          ["history.remote-script"],
        ],
        [
          "downloaded to a file and run unverified",
          "/bin/sh -c curl -fsSLo /tmp/install.sh https://example.com/install.sh && sh /tmp/install.sh",
          ["history.remote-script"],
        ],
        [
          "inside bash -c '...'",
          "/bin/sh -c bash -c 'curl -fsSL https://example.com/i.sh | sh'",
          ["history.remote-script"],
        ],
      ]);
    });

    describe("when a step only downloads", () => {
      table([
        ["curl | tar", "/bin/sh -c curl -fsSL https://example.com/app.tgz | tar xz -C /opt", []],
        [
          "curl | gpg --dearmor",
          "/bin/sh -c curl -fsSL https://example.com/key.gpg | gpg --dearmor -o /usr/share/keyrings/x.gpg",
          [],
        ],
        [
          "curl | python3 -c (stdin is data)",
          `/bin/sh -c curl -s https://api.github.com/repos/x/y/releases/latest | python3 -c "import json,sys; print(json.load(sys.stdin)['tag_name'])"`,
          [],
        ],
        [
          "a version read with $(curl ...)",
          "/bin/sh -c VERSION=$(curl -s https://example.com/version) && wget -q https://example.com/$VERSION.tgz",
          [],
        ],
        [
          "bash -c with an assignment from curl",
          `/bin/sh -c bash -c "V=$(curl -s https://example.com/v) && echo $V"`,
          [],
        ],
        [
          "a script verified by checksum before it runs",
          '/bin/sh -c curl -fsSLo /tmp/install.sh https://example.com/install.sh && echo "0123abcd  /tmp/install.sh" | sha256sum -c - && sh /tmp/install.sh',
          [],
        ],
        [
          "a binary run for its version",
          "/bin/sh -c curl -fsSLo /usr/local/bin/tini https://example.com/tini && chmod +x /usr/local/bin/tini && /usr/local/bin/tini --version",
          [],
        ],
        ["the words in an echo", '/bin/sh -c echo "never curl | sh"', []],
      ]);
    });
  });

  describe("history.remote-add", () => {
    table([
      [
        "BuildKit ADD of an https URL",
        "ADD https://example.com/app.tar.gz /opt/ # buildkit",
        ["history.remote-add"],
      ],
      [
        "legacy ADD of a URL",
        "/bin/sh -c #(nop) ADD https://example.com/app.tar.gz in /opt/ ",
        ["history.remote-add"],
      ],
      [
        "ADD over plain http (also insecure)",
        "ADD http://example.com/app.tar.gz /opt/ # buildkit",
        ["history.insecure-fetch", "history.remote-add"],
      ],
      [
        "ADD --checksum of a URL",
        "ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://example.com/app.tar.gz /opt/ # buildkit",
        [],
      ],
      [
        "legacy ADD of a local file",
        "/bin/sh -c #(nop) ADD file:4b03b5f551e3fbdf47ec609712007327828f7530cc3455c43bbcdcaf449a75a9 in / ",
        [],
      ],
      ["ADD of a local archive", "ADD app.tar.gz /opt/ # buildkit", []],
    ]);
  });

  describe("history.insecure-fetch", () => {
    table([
      ["curl -k", "/bin/sh -c curl -k -o /app.tgz https://example.com/app.tgz", ["history.insecure-fetch"]],
      [
        "curl -k in a cluster",
        "/bin/sh -c curl -fsSLko /app.tgz https://example.com/app.tgz",
        ["history.insecure-fetch"],
      ],
      [
        "curl --insecure",
        "/bin/sh -c curl --insecure -o /app.tgz https://example.com/app.tgz",
        ["history.insecure-fetch"],
      ],
      [
        "wget --no-check-certificate",
        "/bin/sh -c wget --no-check-certificate https://example.com/app.tgz",
        ["history.insecure-fetch"],
      ],
      ["wget over http", "/bin/sh -c wget http://example.com/app.tgz", ["history.insecure-fetch"]],
      [
        "curl over http",
        "/bin/sh -c curl -fsSLo /app.tgz http://example.com/app.tgz",
        ["history.insecure-fetch"],
      ],
      [
        "pip --trusted-host",
        "/bin/sh -c pip install --trusted-host pypi.example.com app",
        ["history.insecure-fetch"],
      ],
      [
        "apk --allow-untrusted",
        "/bin/sh -c apk add --allow-untrusted /tmp/app.apk",
        ["history.insecure-fetch"],
      ],
      [
        "git clone over http",
        "/bin/sh -c git clone http://example.com/app.git /src",
        ["history.insecure-fetch"],
      ],
      [
        "git with sslVerify off",
        "/bin/sh -c git -c http.sslVerify=false clone https://example.com/app.git",
        ["history.insecure-fetch"],
      ],
      ["npm strict-ssl off", "/bin/sh -c npm config set strict-ssl false", ["history.insecure-fetch"]],
      [
        "ENV NODE_TLS_REJECT_UNAUTHORIZED=0",
        "ENV NODE_TLS_REJECT_UNAUTHORIZED=0",
        ["history.insecure-fetch"],
      ],
      [
        "an http apt source in an echo",
        '/bin/sh -c echo "deb http://deb.debian.org/debian bookworm main" > /etc/apt/sources.list',
        [],
      ],
      ["curl to loopback", "/bin/sh -c curl -fsS http://localhost:8080/health", []],
      [
        "curl -o with a k in the file name",
        "/bin/sh -c curl -sLokubectl https://dl.k8s.io/release/v1.31.0/bin/linux/amd64/kubectl",
        [],
      ],
      [
        "https downloads",
        "/bin/sh -c curl -fsSL -o /app.tgz https://example.com/app.tgz && wget -q https://example.com/b.tgz",
        [],
      ],
    ]);
  });

  describe("history.credential", () => {
    const AWS_ID = "AKIAQ3VZ7XJ2M5K8N4RT";
    const AWS_SECRET = "q8Zr3Lw9Tb+Xy2Vn5Pd/7Hc1Mk4Jf6Gs0Aa3Ee8R";
    const PYPI = `pypi-AgEIcHlwaS5vcmc${"CJDk0ZTc1Yj".repeat(10)}`;
    const KEY =
      "-----BEGIN OPENSSH PRIVATE KEY-----\\nb3BlbnNzaC1rZXktdjEAAAAA\\n-----END OPENSSH PRIVATE KEY-----";
    describe("when a step carries a credential in a known live format", () => {
      table([
        [
          "a GitHub token in a BuildKit build arg",
          `RUN |1 GITHUB_TOKEN=${GITHUB} /bin/sh -c git clone https://github.com/acme/app # buildkit`,
          ["history.credential"],
        ],
        [
          "a GitLab token in a clone URL",
          `/bin/sh -c git clone https://oauth2:${GITLAB}@gitlab.com/acme/app.git`,
          ["history.credential"],
        ],
        ["a Slack bot token", `ARG SLACK=xoxb-1234567890-abcdefghijkl`, ["history.credential"]],
        [
          "an npm token",
          `/bin/sh -c npm config set //registry.npmjs.org/:_authToken npm_${"a1".repeat(18)}`,
          ["history.credential"],
        ],
        ["a PyPI token", `/bin/sh -c twine upload -u __token__ -p ${PYPI} dist/*`, ["history.credential"]],
        ["a Stripe live key", `ENV PAYMENTS=sk_live_${"4eC39HqLyjWDarjtT1zdp7dc"}`, ["history.credential"]],
        ["a private key block", `/bin/sh -c printf '${KEY}' > /root/.ssh/id_ed25519`, ["history.credential"]],
        [
          "an AWS key id with its secret",
          `/bin/sh -c AWS_ACCESS_KEY_ID=${AWS_ID} AWS_SECRET_ACCESS_KEY=${AWS_SECRET} aws s3 cp s3://b/x /x`,
          ["history.credential"],
        ],
      ]);

      it("pairs an AWS key id with its secret across steps (ARG, then RUN)", () => {
        const facts = cleanFacts();
        facts.history = [
          { createdBy: `ARG AWS_SECRET_ACCESS_KEY=${AWS_SECRET}`, emptyLayer: true },
          { createdBy: `/bin/sh -c aws configure set aws_access_key_id ${AWS_ID}`, emptyLayer: false },
        ];
        const found = historyChecks(facts, cleanContext());
        expect(found.map((f) => f.id)).toEqual(["history.credential", "history.credential"]);
      });

      it("names the token's format when a secret-named option carried it", () => {
        const [f] = run(`/bin/sh -c npm config set //registry.npmjs.org/:_authToken npm_${"a1".repeat(18)}`);
        expect(f?.id).toBe("history.credential");
        expect(f?.title).toBe("history step 1 (RUN) carries an npm token");
      });

      it("never shows the credential in full", () => {
        const text = JSON.stringify(
          run(`/bin/sh -c AWS_ACCESS_KEY_ID=${AWS_ID} AWS_SECRET_ACCESS_KEY=${AWS_SECRET} x`),
        );
        expect(text).not.toContain(AWS_ID);
        expect(text).not.toContain(AWS_SECRET);
      });
    });

    describe("when the format alone does not prove a live credential", () => {
      table([
        [
          "an AWS key id without its secret",
          `/bin/sh -c aws configure set aws_access_key_id ${AWS_ID}`,
          ["history.secret"],
        ],
        [
          "an AWS key id with a hex digest beside it",
          `/bin/sh -c AWS_ACCESS_KEY_ID=${AWS_ID} AWS_SECRET_ACCESS_KEY=${"ab12".repeat(10)} x`,
          ["history.secret"],
        ],
        [
          "a JWT",
          `/bin/sh -c curl -H "X-Token: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlMTIz" https://example.com/x`,
          ["history.secret"],
        ],
      ]);
    });
  });

  describe("history.secret", () => {
    describe("when a step carries a credential", () => {
      table([
        [
          "a secret-named legacy build arg",
          "|1 DB_PASSWORD=hunter2hunter2 /bin/sh -c ./migrate",
          ["history.secret"],
        ],
        ["an ARG default", "ARG NPM_TOKEN=abcdef0123456789", ["history.secret"]],
        ["mysql -pSECRET", '/bin/sh -c mysql -uroot -pS3cretPass -e "select 1"', ["history.secret"]],
        [
          "docker login -p",
          "/bin/sh -c docker login -u bot -p S3cretPass registry.example.com",
          ["history.secret"],
        ],
        ["--password=", "/bin/sh -c some-tool --password=S3cretPass sync", ["history.secret"]],
        [
          "curl -u user:pass",
          "/bin/sh -c curl -u admin:S3cretPass -o /x https://example.com/x",
          ["history.secret"],
        ],
        [
          "an Authorization header",
          '/bin/sh -c curl -H "Authorization: Bearer abcdef0123456789" -o /x https://example.com/x',
          ["history.secret"],
        ],
        [
          "an npm auth token written to .npmrc",
          '/bin/sh -c echo "//registry.npmjs.org/:_authToken=abcdef0123456789" > ~/.npmrc',
          ["history.secret"],
        ],
        [
          "an exported secret",
          "/bin/sh -c export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY && ./deploy",
          ["history.secret"],
        ],
        [
          "credentials in a clone URL",
          "/bin/sh -c git clone https://oauth2:S3cretPass@gitlab.example.com/acme/app.git",
          ["history.secret"],
        ],
        [
          "an AWS key id on a command line",
          "/bin/sh -c aws configure set aws_access_key_id AKIAIOSFODNN7EXAMPLE",
          ["history.secret"],
        ],
        [
          "a root password set with chpasswd",
          "/bin/sh -c echo 'root:Docker!Docker' | chpasswd",
          ["history.secret"],
        ],
        ["an ENV secret no longer in the config", "ENV API_TOKEN=abcdef0123456789", ["history.secret"]],
      ]);
    });

    describe("when the credential is in a known live format", () => {
      it("leaves it to history.credential, and keeps a name-based one in the same step here", () => {
        const found = run(`|2 GITHUB_TOKEN=${GITHUB} DB_PASSWORD=hunter2hunter2 /bin/sh -c make`);
        expect(ids(found)).toEqual(["history.credential", "history.secret"]);
        const secret = found.find((f) => f.id === "history.secret")!;
        expect(secret.evidence.secrets).toEqual([expect.objectContaining({ name: "DB_PASSWORD" })]);
      });
    });

    describe("when a step only looks like it does", () => {
      table([
        ["apk package pins", "/bin/sh -c apk add --no-cache openssl=3.1.4-r5 secret-tool=0.1-r0", []],
        ["apt package pins", "/bin/sh -c apt-get install -y libsecret-1-0=0.20.5-3 gnome-keyring=42.1-1", []],
        ["pip pins", "/bin/sh -c pip install keyring==24.3.0 secretstorage==3.3.3", []],
        ["a GPG fingerprint", "ENV GPG_KEY=A035C8C19219BA821ECEA86B64E628F8D684696D", []],
        [
          "GPG keys",
          "ENV PHP_GPG_KEYS=39B641343D8C104B2B146DC3F9C39DC0B9698544 E60913E4DF209907D8E30D96659A97C9CF2A795A",
          [],
        ],
        [
          "a checksum",
          "ENV PYTHON_SHA256=24887e92e2af4bcc2e9d2b9b7b1d56d4b2a1a1b0b6a7a1b1c1d1e1f1a1b1c1d1",
          [],
        ],
        ["a *_FILE path", "ENV POSTGRES_PASSWORD_FILE=/run/secrets/postgres", []],
        ["a non-secret build arg", "|1 TARGETARCH=amd64 /bin/sh -c make", []],
        ["an ARG without a value", "ARG NPM_TOKEN", []],
        [
          "a reference to a build secret",
          `/bin/sh -c npm config set //registry.npmjs.org/:_authToken "\${NPM_TOKEN}"`,
          [],
        ],
        [
          "a password read from stdin",
          '/bin/sh -c echo "$DB_PASSWORD" | docker login -u bot --password-stdin registry.example.com',
          [],
        ],
        ["mkdir -p", "/bin/sh -c mkdir -p /app/data", []],
        ["a build secret's spec", "/bin/sh -c docker buildx build --secret id=npmrc,src=/run/npmrc .", []],
        ["PATH", "ENV PATH=/usr/local/bin:/usr/bin:/bin", []],
      ]);
    });

    it("leaves an ENV still in the config to config.secret-env", () => {
      expect(ids(run("ENV API_TOKEN=abcdef0123456789", ["API_TOKEN=abcdef0123456789"]))).toEqual([]);
    });

    it("reports a build arg once, where it first appears, noting the later steps", () => {
      const facts = cleanFacts();
      facts.history = [
        { createdBy: "ARG DEPLOY_TOKEN=abcdef0123456789 # buildkit", emptyLayer: true },
        {
          createdBy: "RUN |1 DEPLOY_TOKEN=abcdef0123456789 /bin/sh -c ./fetch # buildkit",
          emptyLayer: false,
        },
        {
          createdBy: "RUN |1 DEPLOY_TOKEN=abcdef0123456789 /bin/sh -c ./build # buildkit",
          emptyLayer: false,
        },
      ];
      const found = historyChecks(facts, cleanContext()).filter((f) => f.id === "history.secret");
      expect(found).toHaveLength(1);
      expect(found[0]!.evidence).toMatchObject({ historyIndex: 0, alsoIn: [1, 2] });
    });

    it("never shows the secret, only its mask", () => {
      const [f] = run(
        `RUN |1 GITHUB_TOKEN=${GITHUB} /bin/sh -c git clone https://github.com/acme/app # buildkit`,
      );
      const text = JSON.stringify(f);
      expect(text).not.toContain(GITHUB);
      expect(text).toContain("ghp_…Y2z3 (40 chars)");
      expect(f!.evidence).toMatchObject({ historyIndex: 0, instruction: "RUN" });
    });
  });

  describe("history.sudo", () => {
    table([
      ["sudo apt-get", "/bin/sh -c sudo apt-get install -y vim", ["history.sudo"]],
      ["sudo -E with options", "/bin/sh -c sudo -E -u app make install", ["history.sudo"]],
      ["installing the sudo package", "/bin/sh -c apt-get install -y sudo", []],
      ["configuring sudoers", '/bin/sh -c echo "app ALL=(ALL) NOPASSWD:ALL" >> /etc/sudoers', []],
      ["gosu", "/bin/sh -c gosu app true", []],
    ]);
  });

  describe("history.world-writable", () => {
    table([
      ["chmod 777", "/bin/sh -c chmod 777 /app", ["history.world-writable"]],
      ["chmod -R 777", "/bin/sh -c chmod -R 777 /app", ["history.world-writable"]],
      ["chmod -R a+w", "/bin/sh -c chmod -R a+w /data", ["history.world-writable"]],
      ["chmod o+w", "/bin/sh -c chmod o+w /data", ["history.world-writable"]],
      ["chmod 0666", "/bin/sh -c chmod 0666 /etc/app.conf", ["history.world-writable"]],
      ["chmod 2777 (setgid, no sticky bit)", "/bin/sh -c chmod 2777 /shared", ["history.world-writable"]],
      ["mkdir -m 777", "/bin/sh -c mkdir -m 777 /shared", ["history.world-writable"]],
      ["COPY --chmod=777", "COPY --chmod=777 . /app # buildkit", ["history.world-writable"]],
      ["umask 000", "/bin/sh -c umask 000 && make install", ["history.world-writable"]],
      ["chmod 1777 /tmp (sticky)", "/bin/sh -c chmod 1777 /tmp", []],
      ["chmod 3777 (sticky, as postgres does)", "/bin/sh -c chmod 3777 /var/run/postgresql", []],
      ["chmod a+rwxt (sticky)", "/bin/sh -c chmod a+rwxt /scratch", []],
      ["chmod 755", "/bin/sh -c chmod 755 /app", []],
      ["chmod +x", "/bin/sh -c chmod +x /entrypoint.sh", []],
      ["chmod u+w", "/bin/sh -c chmod u+w /app", []],
      ["chmod go-w", "/bin/sh -c chmod -R go-w /app", []],
    ]);
  });

  describe("history.empty", () => {
    it("fires when the config has no history", () => {
      const facts = cleanFacts();
      facts.history = [];
      expect(ids(historyChecks(facts, cleanContext()))).toEqual(["history.empty"]);
    });

    it("fires when no entry says what it did", () => {
      const facts = cleanFacts();
      facts.history = [
        { createdBy: "", emptyLayer: false },
        { createdBy: " ", emptyLayer: false },
      ];
      expect(ids(historyChecks(facts, cleanContext()))).toEqual(["history.empty"]);
    });

    it("does not fire for a readable history", () => {
      expect(ids(historyChecks(cleanFacts(), cleanContext()))).toEqual([]);
    });
  });

  it("names the step in evidence", () => {
    const facts = cleanFacts();
    facts.history.push({ createdBy: "/bin/sh -c chmod 777 /app", emptyLayer: false });
    const [f] = historyChecks(facts, cleanContext());
    expect(f!.evidence).toMatchObject({
      historyIndex: facts.history.length - 1,
      instruction: "RUN",
      commands: ["chmod 777 /app"],
    });
  });
});
