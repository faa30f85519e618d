"""proxmoxer 2.3.0 over SSH, for the benchmark harness: N sequential `version.get()` calls.

    python bench_ssh.py openssh|ssh_paramiko HOST PORT USER IDENTITY_FILE SSH_CONFIG N

Prints {"seconds": wall time of the N calls (after one warm-up call), "n": N}.
"""
import sys
import time

from proxmoxer import ProxmoxAPI

backend, host, port, user, identity, ssh_config, n = sys.argv[1:8]
n = int(n)
if backend == 'openssh':
    pve = ProxmoxAPI(host, backend='openssh', user=user, port=int(port), identity_file=identity,
                     config_file=ssh_config, service='PVE')
else:
    pve = ProxmoxAPI(host, backend='ssh_paramiko', user=user, port=int(port),
                     private_key_file=identity, service='PVE')
pve.version.get()
t0 = time.perf_counter()
for _ in range(n):
    pve.version.get()
print('{"seconds": %f, "n": %d}' % (time.perf_counter() - t0, n), flush=True)
