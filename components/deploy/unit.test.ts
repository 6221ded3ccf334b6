import fc from "fast-check";
import { DeployConfigError } from "./errors";
import { renderServiceUnit, systemdQuote } from "./unit";

const base = {
  app: "shop",
  workingDir: "/srv/shop/current",
  execStart: ["/usr/bin/python3", "server.py"],
  envFile: "/srv/shop/.fleet/app.env",
  writablePaths: ["/srv/shop/shared"],
  logFile: "/var/log/shop/app.log",
};

describe("renderServiceUnit", () => {
  it("renders the sample app's unit", () => {
    expect(renderServiceUnit(base)).toMatchSnapshot();
  });

  it("renders a unit with a user", () => {
    expect(renderServiceUnit({ ...base, user: "shop" })).toMatchSnapshot();
  });

  it("is hardened", () => {
    const unit = renderServiceUnit(base);
    for (const line of ["NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes", "ProtectHome=yes", "ReadWritePaths=/srv/shop/shared"]) {
      expect(unit.split("\n")).toContain(line);
    }
  });

  it("does not depend on the order of writable paths", () => {
    const a = renderServiceUnit({ ...base, writablePaths: ["/b", "/a", "/b"] });
    const b = renderServiceUnit({ ...base, writablePaths: ["/a", "/b"] });
    expect(a).toBe(b);
    expect(a).toContain("ReadWritePaths=/a /b\n");
  });

  it.each([
    [{ app: "a b" }, /deploy\.app/],
    [{ execStart: [] }, /deploy\.command/],
    [{ execStart: ["/bin/x", "a\nExecStartPre=/bin/evil"] }, /line break/],
    [{ workingDir: "relative" }, /deploy\.workingDir/],
    [{ envFile: "/srv/x y/.env" }, /deploy\.envFile/],
    [{ user: "Root;" }, /deploy\.user/],
  ])("rejects %p", (patch, why) => {
    expect(() => renderServiceUnit({ ...base, ...patch })).toThrow(DeployConfigError);
    expect(() => renderServiceUnit({ ...base, ...patch })).toThrow(why);
  });
});

/** systemd's ExecStart= unquoting for one double-quoted word, enough to check the round trip. */
function systemdUnquote(word: string): string {
  expect(word.startsWith('"') && word.endsWith('"')).toBe(true);
  const inner = word.slice(1, -1);
  let out = "";
  for (let i = 0; i < inner.length; i++) {
    const c = inner[i];
    if (c === "\\") out += inner[++i];
    else if ((c === "%" || c === "$") && inner[i + 1] === c) out += inner[++i];
    else if (c === "%" || c === "$" || c === '"') throw new Error(`unescaped ${c} in ${word}`);
    else out += c;
  }
  return out;
}

describe("systemdQuote", () => {
  it("round-trips any single-line word", () => {
    fc.assert(
      fc.property(
        fc.string().filter((s) => !/[\n\r\0]/.test(s)),
        (w) => {
          expect(systemdUnquote(systemdQuote(w))).toBe(w);
        },
      ),
    );
  });
});
