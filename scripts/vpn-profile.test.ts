import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { main, parseArgs, parseProfiles, ProfileError, writeProfile } from "./vpn-profile";

const profiles = { alice: "client\n<key>alice-key</key>\n", bob: "client\n<key>bob-key</key>\n" };
let dir: string;
beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), "vpn-profile-"))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const mode = (f: string) => statSync(f).mode & 0o777;

describe("writeProfile", () => {
  it("writes the engineer's profile with mode 0600 and nothing else", () => {
    const out = path.join(dir, "alice.ovpn");
    writeProfile(profiles, "alice", out);
    expect(readFileSync(out, "utf8")).toBe(profiles.alice);
    expect(mode(out)).toBe(0o600);
    expect(readdirSync(dir)).toEqual(["alice.ovpn"]);
  });

  it("replaces an existing world-readable file with a 0600 one", () => {
    const out = path.join(dir, "alice.ovpn");
    writeFileSync(out, "old");
    chmodSync(out, 0o644);
    writeProfile(profiles, "alice", out);
    expect(mode(out)).toBe(0o600);
    expect(readFileSync(out, "utf8")).toBe(profiles.alice);
  });

  it("is 0600 even under a permissive umask", () => {
    const old = process.umask(0);
    try {
      writeProfile(profiles, "bob", path.join(dir, "b.ovpn"));
    } finally {
      process.umask(old);
    }
    expect(mode(path.join(dir, "b.ovpn"))).toBe(0o600);
  });

  it("fails for an unknown engineer, naming the valid ones, and writes nothing", () => {
    expect(() => writeProfile(profiles, "mallory", path.join(dir, "m.ovpn"))).toThrow(ProfileError);
    expect(() => writeProfile(profiles, "mallory", path.join(dir, "m.ovpn"))).toThrow(/"mallory".*known engineers: alice, bob/);
    expect(() => writeProfile(profiles, "constructor", path.join(dir, "m.ovpn"))).toThrow(/"constructor"/);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe("CLI", () => {
  it("writes from --from-json to --out", () => {
    const json = path.join(dir, "profiles.json");
    writeFileSync(json, JSON.stringify(profiles));
    const out = path.join(dir, "x.ovpn");
    expect(main(["bob", "--from-json", json, "--out", out])).toMatch(/wrote .*x\.ovpn/);
    expect(readFileSync(out, "utf8")).toBe(profiles.bob);
    expect(mode(out)).toBe(0o600);
  });

  it("defaults the output to <name>.ovpn", () => {
    expect(parseArgs(["alice"])).toEqual({ name: "alice", out: "alice.ovpn", stack: undefined, fromJson: undefined });
    expect(parseArgs(["alice", "--stack", "prod"]).stack).toBe("prod");
  });

  it.each([
    [[], /usage/],
    [["alice", "--out"], /--out needs a value/],
    [["alice", "--bogus"], /unknown option --bogus/],
    [["alice", "bob"], /unexpected argument bob/],
    [["alice", "--stack", "s", "--from-json", "f"], /exclude each other/],
  ])("rejects %j", (argv, message) => {
    expect(() => parseArgs(argv as string[])).toThrow(message);
  });

  it.each([
    ["not json", /not JSON/],
    ['["a"]', /engineer name -> profile/],
    ['{"alice": 3}', /engineer name -> profile/],
  ])("rejects profiles %s", (text, message) => {
    expect(() => parseProfiles(text, "f.json")).toThrow(message);
  });
});
