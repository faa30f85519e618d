"""Write a PVE-shaped /cluster/resources answer with 5,000 qemu guests (deterministic), as
described in shared/reference/bench-recipe.md: 4 nodes, 80 % running, PVE's field order,
compact JSON in {"data": [...]}.

    python gen_resources.py OUTFILE
"""
import json
import random
import sys

rng = random.Random(42)
nodes = ['pve1', 'pve2', 'pve3', 'pve4']
data = []
for i in range(5000):
    vmid = 100 + i
    up = rng.random() < 0.8
    maxmem = rng.choice([1, 2, 4, 8, 16, 32]) * 1024 ** 3
    maxdisk = rng.choice([8, 16, 32, 64, 128]) * 1024 ** 3
    data.append({
        'id': 'qemu/%d' % vmid, 'type': 'qemu', 'vmid': vmid,
        'name': 'vm-%d-%s' % (vmid, rng.choice(['web', 'db', 'cache', 'build', 'ci', 'app'])),
        'node': nodes[i % 4], 'status': 'running' if up else 'stopped',
        'maxmem': maxmem, 'mem': rng.randint(maxmem // 8, maxmem) if up else 0,
        'maxcpu': rng.choice([1, 2, 4, 8]), 'cpu': rng.random() * 0.5 if up else 0,
        'maxdisk': maxdisk, 'disk': 0,
        'uptime': rng.randint(60, 90 * 86400) if up else 0,
        'netin': rng.randint(0, 10 ** 11) if up else 0,
        'netout': rng.randint(0, 10 ** 11) if up else 0,
        'diskread': rng.randint(0, 10 ** 12) if up else 0,
        'diskwrite': rng.randint(0, 10 ** 12) if up else 0,
        'template': 0, 'tags': '',
    })
body = json.dumps({'data': data}, separators=(',', ':')).encode()
with open(sys.argv[1], 'wb') as f:
    f.write(body)
print(len(body), 'bytes')
