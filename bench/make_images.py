#!/usr/bin/env python3
"""Build N distinct tiny single-platform OCI images and push them to a registry.

Every image is a deterministic function of its index i: one uncompressed tar
layer holding one small text file, an OCI config and an OCI image manifest
(linux/amd64), the same shape as tests/support/images.rs builds. Images are
pushed as `<host>/bench/img-<i>:v1`.

Two ways to push:
  --via http    (default) the registry API over plain HTTP with keep-alive:
                per blob a monolithic upload (POST /blobs/uploads/, then PUT
                <location>?digest=...), then PUT /manifests/v1.
  --via skopeo  write an OCI layout per image and run
                `skopeo copy --preserve-digests --dest-tls-verify=false
                 oci:DIR:v1 docker://HOST/bench/img-<i>:v1`.

Writes a TSV (index, reference, manifest digest) to --out; exits non-zero if
any push fails or a pushed digest differs from the built one.
"""

import argparse
import concurrent.futures
import hashlib
import http.client
import json
import os
import subprocess
import sys
import threading
import urllib.parse

MANIFEST_MT = "application/vnd.oci.image.manifest.v1+json"
CONFIG_MT = "application/vnd.oci.image.config.v1+json"
LAYER_MT = "application/vnd.oci.image.layer.v1.tar"


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_one_file(name, content):
    """A one-file ustar archive with fixed metadata (mtime 0, root-owned)."""
    h = bytearray(512)

    def put(off, b):
        h[off:off + len(b)] = b

    put(0, name.encode())
    put(100, b"0000644\0")
    put(108, b"0000000\0")
    put(116, b"0000000\0")
    put(124, ("%011o\0" % len(content)).encode())
    put(136, b"00000000000\0")
    put(148, b"        ")
    put(156, b"0")
    put(257, b"ustar\0")
    put(263, b"00")
    put(148, ("%06o\0 " % sum(h)).encode())
    out = bytes(h) + content
    out += b"\0" * ((-len(out)) % 512)
    return out + b"\0" * 1024


def compact(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def build_image(i):
    """Returns (manifest bytes, {digest: (media type, bytes)})."""
    layer = tar_one_file("rsign-bench.txt", ("rsign bench image %d\n" % i).encode())
    config = compact({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Labels": {"dev.rsign.bench.index": str(i)}},
        "rootfs": {"type": "layers", "diff_ids": [sha256(layer)]},
    })
    manifest = compact({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MT,
        "config": {"mediaType": CONFIG_MT, "digest": sha256(config), "size": len(config)},
        "layers": [{"mediaType": LAYER_MT, "digest": sha256(layer), "size": len(layer)}],
    })
    blobs = {sha256(config): (CONFIG_MT, config), sha256(layer): (LAYER_MT, layer)}
    return manifest, blobs


class Conn(threading.local):
    """One keep-alive HTTP connection per thread."""

    def __init__(self, port):
        self.port = port
        self.c = None

    def request(self, method, path, body=None, headers=None):
        for attempt in range(2):
            if self.c is None:
                self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                self.c.request(method, path, body=body, headers=headers or {})
                r = self.c.getresponse()
                data = r.read()
                return r, data
            except (http.client.HTTPException, OSError):
                self.c.close()
                self.c = None
                if attempt == 1:
                    raise
        raise RuntimeError("unreachable")


def push_http(conn, repo, tag, manifest, blobs):
    for digest, (_mt, data) in blobs.items():
        r, body = conn.request("POST", "/v2/%s/blobs/uploads/" % repo,
                               body=b"", headers={"Content-Length": "0"})
        if r.status != 202:
            raise RuntimeError("POST upload %s: %d %s" % (repo, r.status, body[:200]))
        loc = urllib.parse.urlsplit(r.getheader("Location"))
        q = (loc.query + "&" if loc.query else "") + "digest=" + urllib.parse.quote(digest)
        r, body = conn.request("PUT", loc.path + "?" + q, body=data, headers={
            "Content-Type": "application/octet-stream", "Content-Length": str(len(data))})
        if r.status != 201:
            raise RuntimeError("PUT blob %s: %d %s" % (digest, r.status, body[:200]))
    r, body = conn.request("PUT", "/v2/%s/manifests/%s" % (repo, tag), body=manifest,
                           headers={"Content-Type": MANIFEST_MT})
    if r.status != 201:
        raise RuntimeError("PUT manifest %s:%s: %d %s" % (repo, tag, r.status, body[:200]))
    got = r.getheader("Docker-Content-Digest")
    if got != sha256(manifest):
        raise RuntimeError("registry digest %s != built %s" % (got, sha256(manifest)))


def push_skopeo(skopeo, workdir, host, repo, tag, manifest, blobs):
    d = os.path.join(workdir, repo.replace("/", "_"))
    os.makedirs(os.path.join(d, "blobs", "sha256"), exist_ok=True)
    for digest, (_mt, data) in list(blobs.items()) + [(sha256(manifest), (MANIFEST_MT, manifest))]:
        with open(os.path.join(d, "blobs", "sha256", digest.split(":", 1)[1]), "wb") as f:
            f.write(data)
    with open(os.path.join(d, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": MANIFEST_MT, "digest": sha256(manifest), "size": len(manifest),
        "annotations": {"org.opencontainers.image.ref.name": tag}}]}
    with open(os.path.join(d, "index.json"), "wb") as f:
        f.write(compact(index))
    # The unpacked trixie skopeo has no /etc/containers/policy.json.
    policy = os.path.join(workdir, "accept-policy.json")
    if not os.path.exists(policy):
        with open(policy + ".tmp%d" % threading.get_ident(), "w") as f:
            f.write('{"default":[{"type":"insecureAcceptAnything"}]}')
        os.replace(policy + ".tmp%d" % threading.get_ident(), policy)
    subprocess.run([skopeo, "--policy", policy, "copy", "--quiet", "--preserve-digests",
                    "--dest-tls-verify=false",
                    "oci:%s:%s" % (d, tag), "docker://%s/%s:%s" % (host, repo, tag)],
                   check=True, timeout=120)


def main():
    ap = argparse.ArgumentParser(description="build and push N tiny OCI images")
    ap.add_argument("--port", type=int, required=True, help="registry port on 127.0.0.1")
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("--via", choices=["http", "skopeo"], default="http")
    ap.add_argument("--skopeo", default="skopeo")
    ap.add_argument("--workdir", help="layout dir for --via skopeo")
    ap.add_argument("--out", required=True, help="TSV: index, reference, digest")
    args = ap.parse_args()
    if not 1 <= args.n <= 100000:
        ap.error("-n must be in 1..100000")
    host = "127.0.0.1:%d" % args.port
    conn = Conn(args.port)

    def one(i):
        repo, tag = "bench/img-%d" % i, "v1"
        manifest, blobs = build_image(i)
        if args.via == "http":
            push_http(conn, repo, tag, manifest, blobs)
        else:
            push_skopeo(args.skopeo, args.workdir, host, repo, tag, manifest, blobs)
        return i, "%s/%s:%s" % (host, repo, tag), sha256(manifest)

    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as ex:
        rows = sorted(ex.map(one, range(args.n)))
    if len({r[2] for r in rows}) != args.n:
        print("make_images: digests are not distinct", file=sys.stderr)
        return 1
    with open(args.out, "w") as f:
        for i, ref, digest in rows:
            f.write("%d\t%s\t%s\n" % (i, ref, digest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
