"""Start fakepve (pinned 0.5.0) for the proxmox-testbed launchers.

usage: python launch_fakepve.py --dir DIR [--host H] [--port N] [--time-scale S] [--tfa]
                                [--token ID=SECRET] [--user USER=PASSWORD] [--grant USER:PATH:PRIV]

Writes a certificate that rustls accepts (CA:FALSE, SAN localhost + 127.0.0.1 + host) into DIR,
registers API tokens, users and ACLs through fakepve's Python API (the CLI cannot), adds three
guests, then prints exactly one line

    fakepve listening on https://HOST:PORT cert=DIR/fakepve.crt

and serves until stdin closes or the process is killed. While running, it reads control commands
from stdin, one JSON object a line, and answers each with one line `ok` or `error: <text>`:

    {"op": "fail", "method": "GET", "suffix": "/version", "status": 595, "message": "...", "times": 1}
    {"op": "node_offline", "node": "pve1", "offline": true}
    {"op": "revoke_tickets"}
    {"op": "requests"}        -> `ok <json list of [method, path]>` (secrets are never recorded)
"""
import argparse
import asyncio
import json
import os
import sys

from fakepve import FakePve
from fakepve.certs import make_cert


def pair(text):
    name, sep, value = text.partition('=')
    if not sep or not name:
        raise argparse.ArgumentTypeError('expected NAME=VALUE, got %r' % text)
    return name, value


def grant(text):
    parts = text.split(':')
    if len(parts) < 3:
        raise argparse.ArgumentTypeError('expected USER:PATH:PRIV[:PRIV...], got %r' % text)
    return parts[0], parts[1], parts[2:]


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--dir', required=True, help='directory for the certificate and key')
    ap.add_argument('--host', default='127.0.0.1')
    ap.add_argument('--port', type=int, default=0, help='0 picks a free port')
    ap.add_argument('--time-scale', type=float, default=0.0,
                    help='real seconds per PVE second; 0 ends every task before its POST returns')
    ap.add_argument('--tfa', action='store_true', help='every password login answers NeedTFA')
    ap.add_argument('--root-password', default='secret')
    ap.add_argument('--token', type=pair, action='append', default=[], help='TOKENID=SECRET')
    ap.add_argument('--user', type=pair, action='append', default=[], help='USER@REALM=PASSWORD')
    ap.add_argument('--grant', type=grant, action='append', default=[], help='USER:PATH:PRIV')
    return ap.parse_args()


def control(pve, line):
    """One control command; returns the answer line."""
    try:
        cmd = json.loads(line)
        op = cmd.get('op')
        if op == 'fail':
            pve.fail(cmd['method'], cmd['suffix'], status=int(cmd['status']), message=cmd['message'],
                     times=cmd.get('times'))
        elif op == 'node_offline':
            pve.set_node_offline(cmd['node'], bool(cmd.get('offline', True)))
        elif op == 'revoke_tickets':
            pve.revoke_tickets()
        elif op == 'requests':
            return 'ok ' + json.dumps([[m, p] for (m, p, _body) in pve.requests])
        else:
            return 'error: unknown op %r' % (op,)
    except Exception as e:  # noqa: BLE001 - the answer names the problem, the server keeps running
        return 'error: %s: %s' % (type(e).__name__, str(e).replace('\n', ' '))
    return 'ok'


async def serve(a):
    os.makedirs(a.dir, exist_ok=True)
    cert, key, _der = make_cert(a.dir, name='fakepve', hosts=(a.host,))
    pve = FakePve(user='root@pam', password=a.root_password, host=a.host, port=a.port)
    pve.time_scale = a.time_scale
    pve.tfa = a.tfa
    for tokenid, secret in a.token:
        pve.apitokens[tokenid] = secret
    for user, password in a.user:
        pve.users[user] = password
    for user, path, privs in a.grant:
        pve.grant(user, path, *privs)
    web = pve.add_vm(100, 'web1', status='running',
                     config={'memory': 2048, 'cores': 2, 'scsi0': 'local-lvm:vm-100-disk-0,size=32G',
                             'net0': 'virtio=BC:24:11:00:00:01,bridge=vmbr0', 'agent': '1'})
    # The guest agent answers (fakepve's defaults: exec hands out pids, nothing runs).
    web.agent = {}
    slow = pve.add_vm(101, 'slowvm', status='stopped', config={'memory': 1024, 'agent': '1'})
    slow.start_secs = 5
    slow.shutdown_secs = 8
    pve.add_ct(200, 'ct1', status='running', config={'memory': 512, 'rootfs': 'local-lvm:vm-200-disk-0,size=8G'})
    await pve.start(cert, key)
    print('fakepve listening on {0} cert={1}'.format(pve.url, cert), flush=True)

    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break  # stdin closed: the parent is gone
        line = line.strip()
        if line:
            print(control(pve, line), flush=True)
    await pve.stop()


def main():
    a = parse_args()
    try:
        asyncio.run(serve(a))
    except KeyboardInterrupt:
        pass


if __name__ == '__main__':
    main()
