// The JavaScript API from plain JavaScript (node), against a running simulator:
//   node smoke.mjs <pkg dir built with wasm-bindgen --target web> <https://127.0.0.1:PORT>
// The README's snippet, checked.
import { readFile } from "node:fs/promises";
import { pathToFileURL } from "node:url";
import assert from "node:assert/strict";

const [pkg, baseUrl] = process.argv.slice(2);
const { default: init, ProxmoxClient } = await import(pathToFileURL(`${pkg}/proxmox_wasm.js`));
await init({ module_or_path: await readFile(`${pkg}/proxmox_wasm_bg.wasm`) });

const pve = new ProxmoxClient({
  baseUrl,
  tokenId: "root@pam!ci",
  tokenSecret: "11111111-2222-3333-4444-555555555555",
});
const guests = await pve.get("cluster/resources", { type: "vm" });
assert.ok(guests.some((g) => g.vmid === 100 && g.name === "web1"));
const upid = await pve.post(["nodes", "pve1", "qemu", 100, "status", "reboot"]);
assert.match(upid, /^UPID:pve1:/);
const states = [];
const result = await pve.waitTask(upid, { intervalMs: 100, onProgress: (s) => states.push(s.status) });
assert.deepEqual(result, { outcome: "ok", success: true });
assert.equal(states.at(-1), "stopped");
assert.equal((await pve.taskLog(upid)).at(-1).t, "TASK OK");

// Errors are Error objects with status, statusText and the per-parameter errors.
await assert.rejects(pve.post("nodes/pve1/qemu", { vmid: "abc" }), (e) => {
  assert.ok(e instanceof Error);
  assert.equal(e.name, "ProxmoxError");
  assert.equal(e.status, 400);
  assert.match(e.statusText, /Parameter verification failed/);
  assert.match(e.errors.vmid, /type check/);
  return true;
});
await assert.rejects(pve.get("nodes/pve1/nothing-here"), { status: 501, kind: "api" });
assert.throws(() => new ProxmoxClient({ baseUrl, tokenId: "a@pve!t", tokenSecret: "s", caCert: "PEM" }),
  { kind: "unsupported" });

// Password + TFA, step by step.
const tfa = new ProxmoxClient({ baseUrl, username: "tfa@pve", password: "tfapass" });
const step = await tfa.login();
assert.equal(step.status, "tfa");
assert.equal(step.offered.totp, true);
assert.deepEqual(await tfa.secondFactor("totp", "123456"), { status: "ok", username: "tfa@pve" });
assert.ok((await tfa.get("nodes")).length >= 1);

// Upload from a Blob (streamed with the core's multipart framing).
const file = new Blob(["a tiny iso\n"]);
const up = await pve.upload("pve1", "local", "iso", file, { fileName: "smoke.iso", computeChecksum: "sha256" });
assert.equal((await pve.waitTask(up, { intervalMs: 100 })).success, true);
console.log("js api smoke test: ok");
