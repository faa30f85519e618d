"""The side-by-side pvesh scenario through proxmoxer 2.3.0's openssh (or ssh_paramiko) backend.

    python cli_scenario.py BACKEND HOST PORT USER IDENTITY_FILE SSH_CONFIG NODE VMID

Each step waits for a line on stdin ("go") before it runs and then prints one JSON line
({"step", "value"}), so the Rust test can read the pvesh shim's argv log between steps.
"""
import json
import sys

from proxmoxer import ProxmoxAPI
from proxmoxer.core import ResourceException

backend, host, port, user, identity, ssh_config, node, vmid = sys.argv[1:9]
port = int(port)
vmid = int(vmid)

if backend == 'openssh':
    pve = ProxmoxAPI(host, backend='openssh', user=user, port=port, identity_file=identity,
                     config_file=ssh_config, service='PVE')
else:
    pve = ProxmoxAPI(host, backend='ssh_paramiko', user=user, port=port,
                     private_key_file=identity, service='PVE')


def step(name, fn):
    sys.stdin.readline()
    try:
        value = fn()
    except ResourceException as e:
        value = e.status_code
    except Exception as e:  # openssh_wrapper.SSHError: pvesh exited non-zero
        text = e.args[0] if e.args else b''
        text = text.decode() if isinstance(text, bytes) else str(text)
        value = int(text[:3]) if text[:3].isdigit() else text
    if isinstance(value, dict) and set(value) == {'errors'} and not value['errors']:
        # The command backends answer a null result with {'errors': b''}.
        value = None
    if isinstance(value, bytes):
        # The command backends hand back pvesh's raw (empty) stdout for a null answer.
        value = value.decode() or None
    text = json.dumps({'step': name, 'value': value},
                      default=lambda o: o.decode() if isinstance(o, bytes) else repr(o))
    print(text, flush=True)
    return value


step('list-nodes', lambda: [n['node'] for n in pve.nodes.get()])
step('create-vm', lambda: pve.nodes(node).qemu.post(
    vmid=vmid, name='sbs-vm', memory=512, cores=2, sockets=1, ostype='l26', onboot=True,
    net0='virtio,bridge=vmbr0,firewall=1', description="side by side: a&b=c ü/% 'q' $x"))
upid = step('start', lambda: pve.nodes(node).qemu(vmid).status.start.post())
step('task-status', lambda: pve.nodes(node).tasks(upid).status.get()['status'])
step('task-log', lambda: len(pve.nodes(node).tasks(upid).log.get(start=0, limit=50)))
cfg = {}
step('read-config', lambda: cfg.update(pve.nodes(node).qemu(vmid).config.get()) or cfg.get('name'))
step('update-config', lambda: pve.nodes(node).qemu(vmid).config.put(
    digest=cfg['digest'], cores=4, description='updated'))
step('error-400', lambda: pve.nodes(node).qemu.post(vmid=vmid + 1, memory='lots',
                                                     tags=['alpha', 'beta']))
step('stop', lambda: pve.nodes(node).qemu(vmid).status.stop.post())
step('delete', lambda: pve.nodes(node).qemu(vmid).delete(purge=1))
