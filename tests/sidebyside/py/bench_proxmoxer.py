"""proxmoxer 2.3.0 side of the benchmark harness (tests/sidebyside/src/bin/sbs-bench.rs).

    python bench_proxmoxer.py MODE HOST PORT CAFILE TOKEN_USER TOKEN_NAME SECRET [N|FILE]

MODE: version N | resources N | create N | fanout N (thread pool of 8) | upload FILE | once.
Prints one JSON line: {"seconds": wall time of the measured part, "n": calls, "bytes": body
bytes read, "rss_kib": peak RSS (VmHWM) of this process}.
"""
import sys
import time

t_start = time.perf_counter()
from proxmoxer import ProxmoxAPI  # noqa: E402  (the import is part of "once")

mode, host, port, cafile, user, token_name, secret = sys.argv[1:8]
arg = sys.argv[8] if len(sys.argv) > 8 else '0'


def peak_rss_kib():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1])
    return 0


pve = ProxmoxAPI(host, port=int(port), user=user, token_name=token_name, token_value=secret,
                 verify_ssl=cafile, timeout=600)
n = int(arg) if mode != 'upload' else 1
nbytes = 0
if mode == 'once':
    pve.version.get()
    t0 = t_start
elif mode == 'version':
    pve.version.get()
    t0 = time.perf_counter()
    for _ in range(n):
        pve.version.get()
elif mode == 'resources':
    pve.version.get()
    t0 = time.perf_counter()
    for _ in range(n):
        nbytes += len(pve.cluster.resources.get())
elif mode == 'create':
    pve.version.get()
    t0 = time.perf_counter()
    for i in range(n):
        pve.nodes('pve1').qemu.post(vmid=1000 + i % 1000, name='bench', memory=512, cores=2,
                                    sockets=1, ostype='l26', onboot=True,
                                    net0='virtio,bridge=vmbr0')
elif mode == 'fanout':
    from concurrent.futures import ThreadPoolExecutor
    pve.version.get()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: pve.version.get(), range(n)))
elif mode == 'upload':
    import requests_toolbelt  # noqa: F401  (proxmoxer streams with it when installed)
    t0 = time.perf_counter()
    with open(arg, 'rb') as f:
        pve.nodes('pve1').storage('local').upload.post(content='iso', filename=f)
else:
    sys.exit('unknown mode ' + mode)
print('{"seconds": %f, "n": %d, "bytes": %d, "rss_kib": %d}'
      % (time.perf_counter() - t0, n, nbytes, peak_rss_kib()), flush=True)
