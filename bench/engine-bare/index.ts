/**
 * The baseline of `npm run bench:engine`: registers exactly as many resources of each type as the fleet program did
 * in the same run (config `bench:counts`, type → count), each with constant inputs, and does nothing else. What the
 * engine, the providers and the SDK cost per resource is then the same for both; the difference is the program's own.
 */
import * as pulumi from "@pulumi/pulumi";
import * as openstack from "@pulumi/openstack";
import * as tls from "@pulumi/tls";
import * as command from "@pulumi/command";

const counts = new pulumi.Config("bench").requireObject<Record<string, number>>("counts");
const connection = { host: "192.0.2.10", user: "root", privateKey: "bench", hostKey: "bench" };
// The certificates take their key, CA and request from the first key, certificate and request made here (the
// outputs of resources, as in the fleet program; no key material is written in this file).
const first: { key?: pulumi.Output<string>; cert?: pulumi.Output<string>; csr?: pulumi.Output<string> } = {};
const key = () => first.key ?? pulumi.output("");

const makers: Record<string, (name: string) => unknown> = {
  "openstack:compute/instance:Instance": (n) =>
    new openstack.compute.Instance(n, { name: n, flavorName: "gp.0.1.2", imageName: "Ubuntu 24.04", networks: [{ port: "bench-port" }], userData: "bench" }),
  "openstack:networking/port:Port": (n) => new openstack.networking.Port(n, { networkId: "bench-net", fixedIps: [{ subnetId: "bench-subnet" }] }),
  "openstack:networking/network:Network": (n) => new openstack.networking.Network(n, { name: n }),
  "openstack:networking/subnet:Subnet": (n) => new openstack.networking.Subnet(n, { networkId: "bench-net", cidr: "10.99.0.0/24" }),
  "openstack:networking/router:Router": (n) => new openstack.networking.Router(n, { name: n }),
  "openstack:networking/routerInterface:RouterInterface": (n) =>
    new openstack.networking.RouterInterface(n, { routerId: "bench-router", subnetId: "bench-subnet" }),
  "openstack:networking/routerRoute:RouterRoute": (n) =>
    new openstack.networking.RouterRoute(n, { routerId: "bench-router", destinationCidr: "10.98.0.0/24", nextHop: "10.99.0.10" }),
  "openstack:networking/secGroup:SecGroup": (n) => new openstack.networking.SecGroup(n, { name: n }),
  "openstack:networking/secGroupRule:SecGroupRule": (n) =>
    new openstack.networking.SecGroupRule(n, {
      direction: "ingress",
      ethertype: "IPv4",
      protocol: "tcp",
      portRangeMin: 22,
      portRangeMax: 22,
      securityGroupId: "bench-sg",
    }),
  "openstack:networking/floatingIp:FloatingIp": (n) => new openstack.networking.FloatingIp(n, { pool: "PUBLICNET" }),
  "openstack:networking/floatingIpAssociate:FloatingIpAssociate": (n) =>
    new openstack.networking.FloatingIpAssociate(n, { floatingIp: "198.51.100.200", portId: "bench-port" }),
  "openstack:blockstorage/volume:Volume": (n) => new openstack.blockstorage.Volume(n, { name: n, size: 1 }),
  "tls:index/privateKey:PrivateKey": (n) => {
    const k = new tls.PrivateKey(n, { algorithm: "ECDSA", ecdsaCurve: "P256" });
    first.key ??= k.privateKeyPem;
  },
  "tls:index/selfSignedCert:SelfSignedCert": (n) => {
    const c = new tls.SelfSignedCert(n, { privateKeyPem: key(), validityPeriodHours: 24, allowedUses: ["cert_signing"], subject: { commonName: n } });
    first.cert ??= c.certPem;
  },
  "tls:index/certRequest:CertRequest": (n) => {
    const r = new tls.CertRequest(n, { privateKeyPem: key(), subject: { commonName: n } });
    first.csr ??= r.certRequestPem;
  },
  "tls:index/locallySignedCert:LocallySignedCert": (n) =>
    new tls.LocallySignedCert(n, {
      certRequestPem: first.csr ?? pulumi.output(""),
      caPrivateKeyPem: key(),
      caCertPem: first.cert ?? pulumi.output(""),
      validityPeriodHours: 24,
      allowedUses: ["server_auth"],
    }),
  "command:remote:Command": (n) => new command.remote.Command(n, { connection, create: "true" }),
};

// Keys first, then what is signed with them (sorted by type, tls:index/privateKey would come after the certificates).
const FIRST = ["tls:index/privateKey:PrivateKey", "tls:index/selfSignedCert:SelfSignedCert", "tls:index/certRequest:CertRequest"];
const order = (t: string) => (FIRST.includes(t) ? FIRST.indexOf(t) : FIRST.length);
for (const [type, count] of Object.entries(counts).sort(([a], [b]) => order(a) - order(b) || a.localeCompare(b))) {
  const make = makers[type];
  for (let i = 0; i < count; i++) {
    const name = `${type.split(":").pop()}-${i}`;
    // A component type (fleet:…) registers as a bare component; any other type the table lacks, as a command.
    if (make) make(name);
    else if (type.startsWith("fleet:")) new pulumi.ComponentResource(type, name);
    else makers["command:remote:Command"](`other-${name}`);
  }
}
