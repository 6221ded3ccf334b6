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
const KEY = "-----BEGIN PRIVATE KEY-----\nbench\n-----END PRIVATE KEY-----\n";
const CERT = "-----BEGIN CERTIFICATE-----\nbench\n-----END CERTIFICATE-----\n";

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
  "tls:index/privateKey:PrivateKey": (n) => new tls.PrivateKey(n, { algorithm: "ED25519" }),
  "tls:index/selfSignedCert:SelfSignedCert": (n) =>
    new tls.SelfSignedCert(n, { privateKeyPem: KEY, validityPeriodHours: 24, allowedUses: ["cert_signing"], subject: { commonName: n } }),
  "tls:index/certRequest:CertRequest": (n) => new tls.CertRequest(n, { privateKeyPem: KEY, subject: { commonName: n } }),
  "tls:index/locallySignedCert:LocallySignedCert": (n) =>
    new tls.LocallySignedCert(n, { certRequestPem: CERT, caPrivateKeyPem: KEY, caCertPem: CERT, validityPeriodHours: 24, allowedUses: ["server_auth"] }),
  "command:remote:Command": (n) => new command.remote.Command(n, { connection, create: "true" }),
};

for (const [type, count] of Object.entries(counts).sort(([a], [b]) => a.localeCompare(b))) {
  const make = makers[type];
  for (let i = 0; i < count; i++) {
    const name = `${type.split(":").pop()}-${i}`;
    // A component type (fleet:…) registers as a bare component; any other type the table lacks, as a command.
    if (make) make(name);
    else if (type.startsWith("fleet:")) new pulumi.ComponentResource(type, name);
    else makers["command:remote:Command"](`other-${name}`);
  }
}
