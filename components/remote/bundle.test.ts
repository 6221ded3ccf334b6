import { decodeBundle, encodeBundle, loader, remoteScript, remoteScriptPath, scriptInvocation } from "./bundle";

describe("remote scripts", () => {
  it.each([
    ["lib", "components/remote/lib.sh"],
    ["firewall-apply", "components/firewall/firewall-apply.sh"],
    ["vpn-configure", "components/vpn/vpn-configure.sh"],
    ["deploy-activate", "components/deploy/deploy-activate.sh"],
    ["wait-ready", "components/server/wait-ready.sh"],
  ])("finds %s in the folder of its concept", (name, where) => {
    expect(remoteScriptPath(name)).toBe(where);
    expect(remoteScript(name)).toMatch(/^#!\/usr\/bin\/env bash\n/);
  });

  it("names where it looked for a script that is not there", () => {
    expect(() => remoteScript("no-such-script")).toThrow("no remote script named no-such-script in components/*/");
  });
});

describe("bundles", () => {
  it("round-trips any file content, and refuses a file name that is a path", () => {
    const files = { "main.sh": "#!/bin/bash\necho 'a b'\n", data: "ünïcode\n\0binary" };
    expect(decodeBundle(encodeBundle(files))).toEqual(files);
    expect(() => encodeBundle({ "../x": "" })).toThrow(/not a plain file name/);
  });
});

describe("scriptInvocation", () => {
  it("is the constant loader, with the script, lib.sh and the data in the bundle on stdin", () => {
    const run = scriptInvocation("wait-ready", { timeout: "5" }, "delete");
    expect(run.command).toBe(loader("delete"));
    expect(decodeBundle(run.stdin)).toEqual({ timeout: "5", "main.sh": remoteScript("wait-ready"), "lib.sh": remoteScript("lib") });
    expect(run.command).not.toContain("5");
  });
});
