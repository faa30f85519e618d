"""The side-by-side HTTP scenario through proxmoxer 2.3.0 (https backend).

    python http_scenario.py HOST PORT CAFILE TOKEN_USER TOKEN_NAME TOKEN_SECRET USER PASSWORD NODE VMID

Before each step it sends `GET /__sbs/step/NAME` to the recording proxy (which answers it
itself), so the recorded requests can be grouped by step. Prints one JSON line per step with
what the step returned (or the error status), for the Rust test to check.
"""
import json
import ssl
import sys
import urllib.request

from proxmoxer import ProxmoxAPI
from proxmoxer.core import ResourceException

(host, port, cafile, token_user, token_name, token_secret, user, password, node,
 vmid) = sys.argv[1:11]
port = int(port)
vmid = int(vmid)
ctx = ssl.create_default_context(cafile=cafile)


def step(name):
    url = 'https://%s:%d/__sbs/step/%s' % (host, port, name)
    urllib.request.urlopen(url, context=ctx).read()


def out(name, value):
    print(json.dumps({'step': name, 'value': value}), flush=True)


common = dict(port=port, verify_ssl=cafile, timeout=30)

step('login-token')
tok = ProxmoxAPI(host, user=token_user, token_name=token_name, token_value=token_secret, **common)
out('login-token', tok.version.get()['version'])

step('login-password')
pve = ProxmoxAPI(host, user=user, password=password, **common)
out('login-password', pve.version.get()['version'])

step('list-nodes')
out('list-nodes', [n['node'] for n in pve.nodes.get()])

step('create-vm')
upid = pve.nodes(node).qemu.post(
    vmid=vmid, name='sbs-vm', memory=512, cores=2, sockets=1, ostype='l26', onboot=True,
    net0='virtio,bridge=vmbr0,firewall=1', description="side by side: a&b=c ü/% 'q' $x")
out('create-vm', upid)

step('start')
upid = pve.nodes(node).qemu(vmid).status.start.post()
out('start', upid)

step('task-status')
out('task-status', pve.nodes(node).tasks(upid).status.get()['status'])

step('task-log')
out('task-log', len(pve.nodes(node).tasks(upid).log.get(start=0, limit=50)))

step('read-config')
cfg = pve.nodes(node).qemu(vmid).config.get()
out('read-config', cfg.get('name'))

step('update-config')
pve.nodes(node).qemu(vmid).config.put(digest=cfg['digest'], cores=4, description='updated')
out('update-config', None)

step('error-400')
try:
    pve.nodes(node).qemu.post(vmid=vmid + 1, memory='lots', tags=['alpha', 'beta'])
    out('error-400', 'no error')
except ResourceException as e:
    out('error-400', e.status_code)

step('stop')
out('stop', pve.nodes(node).qemu(vmid).status.stop.post())

step('delete')
out('delete', pve.nodes(node).qemu(vmid).delete(purge=1))
