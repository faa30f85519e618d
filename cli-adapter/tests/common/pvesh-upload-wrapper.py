#!/usr/bin/env python3
"""Test-only `pvesh` in front of the test bed's shim (installed as bin/pvesh, the shim moved to
bin/pvesh-shim). `pvesh create /nodes/N/storage/S/upload ... --tmpfilename /var/tmp/pveupload-HEX`
is what PVE runs after pveproxy has received an upload: here the staged file is sent to the API
as the multipart upload (fields content, checksum-algorithm, checksum, then the file) and removed
afterwards, as PVE moves it. Every other call goes to the shim unchanged. Standard library only."""
import json, os, re, ssl, sys, urllib.error, urllib.request, uuid

here = os.path.dirname(os.path.abspath(__file__))
argv = sys.argv[1:]


def fail(text):
    sys.stderr.write(text + '\n')
    sys.exit(255)


if not (len(argv) >= 2 and argv[0] == 'create' and argv[1].endswith('/upload') and '--tmpfilename' in argv):
    shim = os.path.join(here, 'pvesh-shim')
    os.execv(shim, [shim] + argv)

log = os.environ.get('PVESH_LOG') or os.path.join(os.path.dirname(here), 'pvesh-calls.log')
with open(log, 'a') as out:
    out.write(json.dumps(argv) + '\n')
opts, rest = {}, argv[2:]
for i in range(0, len(rest) - 1, 2):
    opts[rest[i].lstrip('-')] = rest[i + 1]
tmp = opts.get('tmpfilename', '')
if not re.fullmatch(r'/var/tmp/pveupload-[0-9a-f]+', tmp):
    fail('400 Parameter verification failed.\ntmpfilename: invalid format')
try:
    data = open(tmp, 'rb').read()
except OSError as e:
    fail('500 cannot read %s: %s' % (tmp, e))
b = uuid.uuid4().hex
body = b''
for k in ('content', 'checksum-algorithm', 'checksum'):
    if k in opts:
        body += ('--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (b, k, opts[k])).encode()
body += ('--%s\r\nContent-Disposition: form-data; name="filename"; filename="%s"\r\n'
         'Content-Type: application/octet-stream\r\n\r\n' % (b, opts.get('filename', ''))).encode()
body += data + ('\r\n--%s--\r\n' % b).encode()
url = os.environ['PVESH_URL'].rstrip('/') + '/api2/json' + argv[1]
req = urllib.request.Request(url, data=body, method='POST')
req.add_header('Authorization', os.environ.get('PVESH_AUTHORIZATION', ''))
req.add_header('Content-Type', 'multipart/form-data; boundary=' + b)
cafile = os.environ.get('PVESH_CAFILE')
ctx = ssl.create_default_context(cafile=cafile) if cafile else ssl._create_unverified_context()
try:
    with urllib.request.urlopen(req, context=ctx, timeout=60) as resp:
        answer = json.loads(resp.read()).get('data')
except urllib.error.HTTPError as e:
    fail('%d %s' % (e.code, e.reason))
os.unlink(tmp)
print(json.dumps(answer))
