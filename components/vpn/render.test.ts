import fc from "fast-check";
import {
  AEAD_CIPHERS,
  AllowEntry,
  CCD_PREFIX,
  ClientProfileInput,
  renderAllowList,
  renderClientProfile,
  renderGatewayBundle,
  renderServerConfig,
  ServerConfigInput,
  tlsCryptV2ClientKeyFrom,
  tlsCryptV2ServerKeyFrom,
  VpnConfigError,
} from "./render";

const pem = (tag: string, body: string) => `-----BEGIN ${tag}-----\n${body}\n-----END ${tag}-----\n`;
const SERVER_KEY = pem("EC PRIVATE KEY", "SERVER-KEY-BODY");
const server: ServerConfigInput = { proto: "udp", port: 1194, subnet: "10.8.0.0/24", privateCidrs: ["10.0.0.0/24"] };
const tlsCryptV2Server = tlsCryptV2ServerKeyFrom("seed");
const tlsCryptV2Alice = tlsCryptV2ClientKeyFrom("seed", "alice");
const client: ClientProfileInput = {
  engineer: "alice",
  remoteHost: "203.0.113.7",
  port: 1194,
  proto: "udp",
  serverName: "fleet-vpn",
  caCertPem: pem("CERTIFICATE", "CA-BODY"),
  certPem: pem("CERTIFICATE", "ALICE-CERT-BODY"),
  keyPem: pem("EC PRIVATE KEY", "ALICE-KEY-BODY"),
  tlsCryptV2Key: tlsCryptV2Alice,
};
const fp = (byte: number) => Array.from({ length: 32 }, () => byte.toString(16).padStart(2, "0").toUpperCase()).join(":");
const lines = (text: string) => text.split("\n");
const optionNames = (text: string) =>
  lines(text)
    .filter((l) => l && !l.startsWith("#") && !l.startsWith("<") && !l.startsWith("-----"))
    .map((l) => l.split(" ")[0]);

describe("renderServerConfig", () => {
  it("matches the snapshot for a typical gateway", () => {
    expect(renderServerConfig({ ...server, dns: ["10.0.0.2"] })).toMatchSnapshot();
  });

  const secureDefaults = [
    "dev tun",
    "topology subnet",
    "dh none",
    "tls-version-min 1.2",
    "tls-cert-profile preferred",
    "remote-cert-tls client",
    "ccd-exclusive",
    "script-security 2",
    "allow-compression no",
    "user nobody",
    "group nogroup",
    "persist-key",
    "persist-tun",
    "keepalive 10 60",
    "status-version 2",
    "server 10.8.0.0 255.255.255.0",
  ];
  it.each(secureDefaults)("has the secure default `%s`", (line) => {
    expect(lines(renderServerConfig(server))).toContain(line);
  });

  it("pins the fingerprint allow-list through tls-verify and keeps management on a unix socket", () => {
    const text = renderServerConfig(server);
    expect(text).toContain('tls-verify "/etc/openvpn/server/vpn-verify.sh /etc/openvpn/server/allow-list"');
    expect(text).toMatch(/^management \/run\/openvpn-server\/fleet\.sock unix$/m);
    expect(text).toMatch(/^tls-crypt-v2 \/etc\/openvpn\/server\/tls-crypt-v2-server\.key$/m);
    expect(text).toContain('tls-crypt-v2-verify "/etc/openvpn/server/vpn-verify.sh /etc/openvpn/server/allow-list"');
    expect(text).not.toMatch(/^tls-crypt /m);
    expect(text).toMatch(/^client-config-dir \/etc\/openvpn\/server\/ccd$/m);
  });

  it("offers only AEAD data ciphers and never compression, cipher or a CRL", () => {
    const text = renderServerConfig(server);
    const ciphers = /^data-ciphers (.*)$/m.exec(text)![1].split(":");
    expect(ciphers.length).toBeGreaterThan(0);
    for (const c of ciphers) expect(AEAD_CIPHERS).toContain(c);
    const names = optionNames(text);
    for (const banned of [
      "compress",
      "comp-lzo",
      "cipher",
      "ncp-ciphers",
      "data-ciphers-fallback",
      "crl-verify",
      "redirect-gateway",
      "duplicate-cn",
      "client-to-client",
    ]) {
      expect(names).not.toContain(banned);
    }
  });

  it("is a split tunnel: pushes only the private routes, sorted, plus optional DNS", () => {
    const text = renderServerConfig({ ...server, privateCidrs: ["10.2.0.0/16", "10.0.0.0/24"], dns: ["10.0.0.2", "10.0.0.3"] });
    // Everything pushed except the socket-buffer hints, which do not touch routing.
    const pushes = lines(text).filter((l) => l.startsWith("push ") && !/^push "(sndbuf|rcvbuf) \d+"$/.test(l));
    expect(pushes).toEqual([
      'push "route 10.0.0.0 255.255.255.0"',
      'push "route 10.2.0.0 255.255.0.0"',
      'push "dns server 0 address 10.0.0.2"',
      'push "dns server 1 address 10.0.0.3"',
    ]);
    expect(text).not.toContain("redirect-gateway");
  });

  it("uses explicit-exit-notify only over UDP and tcp-server over TCP", () => {
    expect(renderServerConfig(server)).toContain("explicit-exit-notify 1");
    const tcp = renderServerConfig({ ...server, proto: "tcp" });
    expect(tcp).not.toContain("explicit-exit-notify");
    expect(tcp).toMatch(/^proto tcp-server$/m);
  });

  it("defaults to the measured tuning (4 MiB socket buffers, fast-io) and renders none when asked", () => {
    const defaults = lines(renderServerConfig(server));
    expect(defaults).toEqual(expect.arrayContaining(["sndbuf 4194304", "rcvbuf 4194304", "fast-io", 'push "sndbuf 4194304"']));
    expect(lines(renderClientProfile(client))).toEqual(expect.arrayContaining(["sndbuf 4194304", "rcvbuf 4194304", "fast-io"]));
    const bare = optionNames(renderServerConfig({ ...server, tuning: {} }));
    for (const o of ["sndbuf", "rcvbuf", "fast-io", "tun-mtu", "txqueuelen"]) expect(bare).not.toContain(o);
  });

  it("renders tuning fields, fast-io only for UDP, and pushes socket buffers", () => {
    const tuned = { sndbuf: 524288, rcvbuf: 524288, tunMtu: 9000, txqueuelen: 1000, fastIo: true };
    const udp = renderServerConfig({ ...server, tuning: tuned });
    expect(udp).toContain("fast-io");
    expect(udp).toContain('push "sndbuf 524288"');
    expect(udp).toContain("tun-mtu 9000");
    expect(renderServerConfig({ ...server, proto: "tcp", tuning: tuned })).not.toContain("fast-io");
  });

  it("keeps keys and admission files where openvpn-server@fleet reads them, and its socket in its run dir", () => {
    const paths = lines(renderServerConfig(server))
      .filter((x) => /^(ca|cert|key|tls-crypt-v2|client-config-dir|status|management) /.test(x))
      .map((l) => l.split(" ")[1]);
    expect(paths.length).toBe(7);
    for (const p of paths) expect(p).toMatch(/^\/(etc\/openvpn\/server|run\/openvpn-server)\//);
  });

  it.each([
    [{ subnet: "10.8.0.1/24" }, /vpn\.subnet "10\.8\.0\.1\/24" is not a network address/],
    [{ subnet: "10.8.0.0" }, /needs a prefix length/],
    [{ subnet: "banana" }, /vpn\.subnet "banana" is not an IPv4 CIDR/],
    [{ subnet: "10.0.0.0/16" }, /overlaps the private network 10\.0\.0\.0\/24/],
    [{ subnet: "10.8.0.0/30" }, /too small/],
    [{ port: 0 }, /vpn\.port 0/],
    [{ port: 70000 }, /vpn\.port 70000/],
    [{ privateCidrs: [] }, /at least the private network/],
    [{ dns: ["dns.example"] }, /dns server "dns\.example"/],
    [{ ciphers: ["BF-CBC"] }, /"BF-CBC" is not an allowed AEAD cipher/],
    [{ tuning: { tunMtu: 100 } }, /tunMtu 100/],
    [{ tuning: { sndbuf: -1 } }, /sndbuf -1/],
  ] as [Partial<ServerConfigInput>, RegExp][])("rejects %j", (patch, message) => {
    expect(() => renderServerConfig({ ...server, ...patch })).toThrow(VpnConfigError);
    expect(() => renderServerConfig({ ...server, ...patch })).toThrow(message);
  });

  it("is deterministic and independent of route order", () => {
    fc.assert(
      fc.property(fc.shuffledSubarray(["10.0.0.0/24", "10.1.0.0/24", "192.168.7.0/24", "172.16.0.0/12"], { minLength: 1 }), (cidrs) => {
        const a = renderServerConfig({ ...server, privateCidrs: cidrs });
        const b = renderServerConfig({ ...server, privateCidrs: [...cidrs].reverse() });
        expect(a).toBe(b);
      }),
    );
  });
});

describe("renderClientProfile", () => {
  it("matches the snapshot", () => {
    expect(renderClientProfile(client)).toMatchSnapshot();
  });

  it("verifies the server's certificate use and name, and matches the server's crypto", () => {
    const text = renderClientProfile(client);
    for (const line of [
      "client",
      "nobind",
      "remote 203.0.113.7 1194",
      "remote-cert-tls server",
      "verify-x509-name fleet-vpn name",
      "auth-nocache",
      "allow-compression no",
    ]) {
      expect(lines(text)).toContain(line);
    }
    const serverText = renderServerConfig(server);
    for (const opt of ["data-ciphers", "tls-version-min", "tls-cert-profile", "tls-groups", "allow-compression"]) {
      const pick = (t: string) => lines(t).find((l) => l.startsWith(opt + " "));
      expect(pick(text)).toBeDefined();
      expect(pick(text)).toBe(pick(serverText));
    }
  });

  it("inlines ca, cert, key and the engineer's own tls-crypt-v2 key, and contains no server secret", () => {
    const text = renderClientProfile(client);
    expect(text).toContain("<ca>\n-----BEGIN CERTIFICATE-----\nCA-BODY");
    expect(text).toContain("<cert>\n-----BEGIN CERTIFICATE-----\nALICE-CERT-BODY");
    expect(text).toContain("<key>\n-----BEGIN EC PRIVATE KEY-----\nALICE-KEY-BODY");
    expect(text).toContain(`<tls-crypt-v2>\n${tlsCryptV2Alice.trim()}\n</tls-crypt-v2>`);
    expect(text).not.toContain("SERVER-KEY-BODY");
    expect(text).not.toContain("tls-crypt-v2 server key");
    expect(text.match(/PRIVATE KEY-----/g)).toHaveLength(2);
  });

  it("uses tcp-client for TCP", () => {
    expect(renderClientProfile({ ...client, proto: "tcp" })).toMatch(/^proto tcp-client$/m);
  });

  it.each([
    [{ engineer: "../etc" }, /engineer name "\.\.\/etc"/],
    [{ engineer: "DEFAULT" }, /not DEFAULT/],
    [{ remoteHost: "a b" }, /gateway address "a b"/],
    [{ remoteHost: "" }, /gateway address ""/],
    [{ certPem: SERVER_KEY }, /certificate field holds a private key/],
    [{ keyPem: "nope" }, /keyPem does not look like/],
  ] as [Partial<ClientProfileInput>, RegExp][])("rejects %j", (patch, message) => {
    expect(() => renderClientProfile({ ...client, ...patch })).toThrow(message);
  });
});

describe("renderAllowList and ccd", () => {
  const entries: AllowEntry[] = [
    { cn: "carol", fingerprint: fp(0xc0) },
    { cn: "alice", fingerprint: fp(0xa1) },
    { cn: "bob", fingerprint: fp(0xb0) },
  ];

  it("lists `cn fingerprint` sorted by CN with lower-case digests", () => {
    expect(renderAllowList(entries)).toBe(`alice ${fp(0xa1).toLowerCase()}\nbob ${fp(0xb0).toLowerCase()}\ncarol ${fp(0xc0).toLowerCase()}\n`);
  });

  it("does not depend on input order", () => {
    fc.assert(
      fc.property(fc.shuffledSubarray(entries, { minLength: entries.length }), (shuffled) => {
        expect(renderAllowList(shuffled)).toBe(renderAllowList(entries));
      }),
    );
  });

  it("renders an empty list for no engineers (everyone refused)", () => {
    expect(renderAllowList([])).toBe("");
  });

  it.each([
    [[{ cn: "alice", fingerprint: "AB:CD" }], /fingerprint of alice "AB:CD"/],
    [[{ cn: "a b", fingerprint: fp(1) }], /engineer name "a b"/],
    [
      [
        { cn: "x", fingerprint: fp(1) },
        { cn: "x", fingerprint: fp(2) },
      ],
      /x is listed twice/,
    ],
  ] as [AllowEntry[], RegExp][])("rejects %j", (bad, message) => {
    expect(() => renderAllowList(bad)).toThrow(message);
  });

  it("builds the configure bundle: one ccd.<cn> per engineer and the server.conf", () => {
    const files = renderGatewayBundle({
      server,
      caCertPem: client.caCertPem,
      serverCertPem: client.certPem,
      serverKeyPem: SERVER_KEY,
      tlsCryptV2ServerKey: tlsCryptV2Server,
      engineers: entries,
    });
    expect(
      Object.keys(files)
        .filter((f) => f.startsWith(CCD_PREFIX))
        .sort(),
    ).toEqual(["ccd.alice", "ccd.bob", "ccd.carol"]);
    // ccd-exclusive only needs the file to exist; its content is a comment naming who it admits.
    expect(files["ccd.bob"]).toBe("# bob: admitted by openstack-fleet\n");
    expect(files["server.conf"]).toContain("ca /etc/openvpn/server/ca.crt");
    expect(
      Object.keys(files)
        .filter((f) => !f.startsWith(CCD_PREFIX))
        .sort(),
    ).toEqual(["allow-list", "ca.crt", "server.conf", "server.crt", "server.key", "tls-crypt-v2-server.key"]);
  });
});
