import fc from "fast-check";
import { renderDotenv } from "./dotenv";
import { DeployConfigError } from "./errors";

describe("renderDotenv", () => {
  it("sorts keys and quotes values", () => {
    expect(renderDotenv("shop", { PORT: "8080", DB_PASSWORD: 'p"a$s`s\\w' })).toBe('DB_PASSWORD="p\\"a\\$s\\`s\\\\w"\nPORT="8080"\n');
  });

  it("is independent of key order", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,8}$/), fc.string()), (vars) => {
        const reversed = Object.fromEntries(Object.entries(vars).reverse());
        const clean = Object.fromEntries(Object.entries(vars).filter(([, v]) => !/[\n\r\0]/.test(v)));
        const cleanRev = Object.fromEntries(Object.entries(reversed).filter(([, v]) => !/[\n\r\0]/.test(v)));
        expect(renderDotenv("shop", clean)).toBe(renderDotenv("shop", cleanRev));
      }),
    );
  });

  it.each([
    [{ "1BAD": "x" }, /env key "1BAD"/],
    [{ "A-B": "x" }, /env key "A-B"/],
    [{ TOKEN: "line1\nline2" }, /env TOKEN contains a line break/],
  ])("rejects %p naming the key", (vars, why) => {
    expect(() => renderDotenv("shop", vars)).toThrow(DeployConfigError);
    expect(() => renderDotenv("shop", vars)).toThrow(why);
  });

  it("never puts a rejected secret value in the error", () => {
    try {
      renderDotenv("shop", { TOKEN: "s3cr3t\nvalue" });
      throw new Error("should have thrown");
    } catch (e) {
      expect(String(e)).not.toContain("s3cr3t");
    }
  });
});
