/**
 * Engineers' laptops for a lab stack: a network namespace each (`fl-<stack>-eng1`, `-eng2`) on the lab's Internet,
 * beside the operator. Each is wired to the cloud's namespace fl-os, which routes the lab's public side (floating IPs
 * on 198.51.100.0/24, through Neutron's router), by a veth: the laptop holds 203.0.113.3 or .4 and routes everything
 * through the operator's address 203.0.113.2, which fl-os holds. The addresses are the lab's: one stack's laptops
 * at a time (the lab suites run one after another).
 */
import { LAPTOP_IPS, LAPTOPS, OPERATOR_IP, StackLayout, stackTag } from "./layout";
import { CLOUD_NS } from "./openstack";
import { must, netnsList, run } from "./sh";

export type Laptop = (typeof LAPTOPS)[number];

/** The veth end in fl-os of a stack's laptop (link names are at most 15 characters). */
export const laptopLink = (L: StackLayout, laptop: Laptop) => `l${stackTag(L.stack)}-${laptop}`;

/** Makes the stack's laptops anew (any earlier ones are removed first). */
export function ensureLaptops(L: StackLayout): void {
  removeLaptops(L);
  for (const laptop of LAPTOPS) {
    const ns = L.laptopNs(laptop);
    const side = laptopLink(L, laptop);
    const ip = LAPTOP_IPS[laptop];
    must(["ip", "netns", "add", ns]);
    must(["ip", "-n", ns, "link", "set", "lo", "up"]);
    must(["ip", "-n", CLOUD_NS, "link", "add", side, "type", "veth", "peer", "name", "eth0", "netns", ns]);
    must(["ip", "-n", CLOUD_NS, "link", "set", side, "up"]);
    must(["ip", "-n", CLOUD_NS, "route", "replace", `${ip}/32`, "dev", side]);
    must(["ip", "-n", ns, "addr", "add", `${ip}/32`, "dev", "eth0"]);
    must(["ip", "-n", ns, "link", "set", "eth0", "up"]);
    must(["ip", "-n", ns, "route", "add", "default", "via", OPERATOR_IP, "dev", "eth0", "onlink"]);
  }
}

/** Removes the stack's laptops, their processes (VPN clients) and their veths; safe when there are none. */
export function removeLaptops(L: StackLayout): void {
  const present = new Set(netnsList());
  for (const laptop of LAPTOPS) {
    const ns = L.laptopNs(laptop);
    if (!present.has(ns)) continue;
    for (const pid of run(["ip", "netns", "pids", ns])
      .stdout.split("\n")
      .filter((p) => /^\d+$/.test(p)))
      run(["kill", "-9", pid]);
    // Deleting the namespace deletes the veth pair, fl-os's end and its route included.
    run(["ip", "netns", "del", ns]);
  }
}
