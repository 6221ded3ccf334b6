import * as pulumi from "@pulumi/pulumi";
import { isSecret, SECRET_SIG, SECRET_VALUE, unwrapSecrets, wrapSecret } from "./secrets";

describe("secrets as plain data", () => {
  it("is the SDK's own marker", () => {
    expect([SECRET_SIG, SECRET_VALUE]).toEqual([pulumi.runtime.specialSigKey, pulumi.runtime.specialSecretSig]);
  });

  it("uses the marker Pulumi's engine and state files use", () => {
    // As written by the Go SDK (sdk/go/common/resource/sig) into every state file with a secret.
    expect(wrapSecret("x", "state")).toEqual({ "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", plaintext: '"x"' });
  });

  it("unwraps both forms at any depth, and keeps everything else", () => {
    const doc = {
      a: wrapSecret({ user: "root", key: wrapSecret("PEM") }),
      b: [wrapSecret(["x", 1], "state"), "plain"],
      c: { n: 3, ok: true, none: null },
    };
    expect(unwrapSecrets(doc)).toEqual({ a: { user: "root", key: "PEM" }, b: [["x", 1], "plain"], c: { n: 3, ok: true, none: null } });
  });

  it("takes only secrets for secrets: the same key with another marker (an asset, an archive) is data", () => {
    const asset = { [SECRET_SIG]: "c44067f5952c0a294b673a41bacd8c17", text: "hi" };
    expect(isSecret(asset)).toBe(false);
    expect(unwrapSecrets({ asset })).toEqual({ asset });
  });
});
