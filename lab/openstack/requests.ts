/**
 * Counts the requests the lab's OpenStack APIs answered over a span of time, from their own access logs: what a
 * provider really asked of the cloud, by service, not what the program meant to ask.
 */
import { closeSync, existsSync, openSync, readSync, statSync } from "fs";
import * as path from "path";
import { cloudDir } from "./index";

/** Each API's log, and how one answered request appears in it (eventlet's access line; uwsgi's for Keystone). */
const LOGS: Record<string, { file: string; line: RegExp }> = {
  keystone: { file: "keystone.out", line: /\] (GET|POST|PUT|PATCH|DELETE|HEAD) \/\S* => generated/ },
  nova: { file: "nova-api.log", line: /"(GET|POST|PUT|PATCH|DELETE|HEAD) \/\S* HTTP/ },
  neutron: { file: "neutron-server.log", line: /"(GET|POST|PUT|PATCH|DELETE|HEAD) \/\S* HTTP/ },
  glance: { file: "glance-api.log", line: /"(GET|POST|PUT|PATCH|DELETE|HEAD) \/\S* HTTP/ },
  cinder: { file: "cinder-api.log", line: /"(GET|POST|PUT|PATCH|DELETE|HEAD) \/\S* HTTP/ },
};

const sizeOf = (f: string) => (existsSync(f) ? statSync(f).size : 0);

function appended(file: string, from: number): string {
  const to = sizeOf(file);
  if (to <= from) return "";
  const buf = Buffer.alloc(to - from);
  const fd = openSync(file, "r");
  try {
    readSync(fd, buf, 0, buf.length, from);
  } finally {
    closeSync(fd);
  }
  return buf.toString("utf8");
}

/** Starts counting now; the function it returns gives the requests per service since then. */
export function countApiRequests(): () => Record<string, number> {
  const dir = path.join(cloudDir(), "logs");
  const start = Object.fromEntries(Object.entries(LOGS).map(([svc, l]) => [svc, sizeOf(path.join(dir, l.file))]));
  return () =>
    Object.fromEntries(
      Object.entries(LOGS).map(([svc, l]) => [
        svc,
        appended(path.join(dir, l.file), start[svc])
          .split("\n")
          .filter((line) => l.line.test(line)).length,
      ]),
    );
}
