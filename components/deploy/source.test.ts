import { DeployConfigError } from "./errors";
import { isValidRevision, resolveSource } from "./source";

const SHA = "4ab6c82c5e73b2fc8fafc209743395894fc752cb";
const SUM = "a".repeat(64);

describe("resolveSource", () => {
  it.each([
    [{ git: { url: "https://git.example.com/acme/shop.git", revision: "v1.0.0" } }, undefined, "v1.0.0"],
    [{ git: { url: "git@github.com:acme/shop.git" } }, SHA, SHA],
    [{ git: { url: "file:///tmp/repo", revision: SHA.slice(0, 7) } }, undefined, SHA.slice(0, 7)],
  ])("names a git release by its revision: %p", (source, revision, release) => {
    const r = resolveSource("shop", source, revision);
    expect(r.kind).toBe("git");
    expect(r.release).toBe(release);
  });

  it("names an artifact release by its hash prefix", () => {
    const r = resolveSource("shop", { artifact: { url: "https://dl.example.com/shop.tgz", sha256: SUM } });
    expect(r).toEqual({ kind: "artifact", url: "https://dl.example.com/shop.tgz", revision: SUM, sha256: SUM, release: SUM.slice(0, 16) });
  });

  it.each([
    [{ git: { url: "https://x/y.git", revision: "main..HEAD" } }, undefined, /revision must be a commit SHA/],
    [{ git: { url: "https://x/y.git", revision: "$(reboot)" } }, undefined, /revision must be a commit SHA/],
    [{ git: { url: "https://x/y.git", revision: "-v1" } }, undefined, /revision must be a commit SHA/],
    [{ git: { url: "https://x/y.git" } }, undefined, /revision is required/],
    [{ git: { url: "https://x/y.git", revision: "v1" } }, "v2", /disagree/],
    [{ git: { url: "ftp://x/y.git", revision: "v1" } }, undefined, /source\.git\.url/],
    [{ git: { url: "https://x/y.git; rm -rf /", revision: "v1" } }, undefined, /source\.git\.url/],
    [{ artifact: { url: "https://x/a.tgz", sha256: "ABC" } }, undefined, /source\.artifact\.sha256/],
    [{ artifact: { url: "scp://x/a.tgz", sha256: SUM } }, undefined, /source\.artifact\.url/],
  ])("rejects %p", (source, revision, why) => {
    expect(() => resolveSource("shop", source as never, revision)).toThrow(DeployConfigError);
    expect(() => resolveSource("shop", source as never, revision)).toThrow(why);
  });

  it.each(["v1", "release-2024.01", SHA, "abc1234"])("accepts revision %s", (r) => expect(isValidRevision(r)).toBe(true));
  it.each(["", "a/b", "v1.lock", "x..y", ".hidden", "v1.", "a b", "a".repeat(200)])("refuses revision %p", (r) => expect(isValidRevision(r)).toBe(false));
});
