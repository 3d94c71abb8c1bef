#!/usr/bin/env python3
"""Clients for bench/policy-bench.sh: AdmissionReview bodies, sequential
latency over one keep-alive HTTPS connection, and a burst of concurrent
identical requests.

  client.py body --images IMG... --out FILE [--uid U]
  client.py latency --port P --ca CA --body FILE -n N [--warmup W] --out JSON
  client.py burst --port P --ca CA --body FILE -n N --out JSON

`latency` records, per request, the client-side time (send to last byte,
time.perf_counter_ns) and the server's own time from its `Server-Timing:
rsign;dur=MS` header, and checks every answer is an AdmissionReview with
`allowed: true`. `burst` opens N connections, completes their TLS
handshakes, then releases all N requests at once (a barrier) and checks
every answer.
"""

import argparse
import http.client
import json
import re
import ssl
import sys
import threading
import time

TIMING = re.compile(r"rsign;dur=([0-9.]+)")


def pod_review(images, uid):
    containers = [
        {"name": "c%d" % i, "image": image, "imagePullPolicy": "IfNotPresent"}
        for i, image in enumerate(images)
    ]
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
            "namespace": "bench",
            "name": "bench-pod",
            "operation": "CREATE",
            "userInfo": {"username": "bench", "groups": ["system:authenticated"]},
            "object": {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "bench-pod", "namespace": "bench"},
                "spec": {"containers": containers, "restartPolicy": "Always"},
            },
            "oldObject": None,
            "dryRun": False,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
        },
    }


def context(ca):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = True
    return ctx


def post(conn, body):
    """One POST /validate; returns (client ns, server ms or None, answer)."""
    t0 = time.perf_counter_ns()
    conn.request("POST", "/validate", body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    t1 = time.perf_counter_ns()
    if resp.status != 200:
        raise RuntimeError("HTTP %d: %r" % (resp.status, data[:300]))
    m = TIMING.search(resp.getheader("Server-Timing") or "")
    server = float(m.group(1)) if m else None
    return t1 - t0, server, json.loads(data)


def check(answer, uid):
    r = answer.get("response", {})
    if r.get("uid") != uid or r.get("allowed") is not True:
        raise RuntimeError("unexpected answer: %s" % json.dumps(answer)[:500])


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def stats(values):
    v = sorted(values)
    return {
        "n": len(v),
        "p50": percentile(v, 50),
        "p90": percentile(v, 90),
        "p99": percentile(v, 99),
        "max": v[-1] if v else None,
        "mean": sum(v) / len(v) if v else None,
    }


def cmd_body(a):
    with open(a.out, "w") as f:
        json.dump(pod_review(a.images, a.uid), f)


def cmd_latency(a):
    body = open(a.body, "rb").read()
    uid = json.loads(body)["request"]["uid"]
    conn = http.client.HTTPSConnection("127.0.0.1", a.port, context=context(a.ca), timeout=30)
    for _ in range(a.warmup):
        _, _, answer = post(conn, body)
        check(answer, uid)
    client, server = [], []
    for _ in range(a.n):
        ns, ms, answer = post(conn, body)
        check(answer, uid)
        client.append(ns / 1e6)
        if ms is not None:
            server.append(ms)
    conn.close()
    out = {"client_ms": stats(client), "server_ms": stats(server)}
    json.dump(out, open(a.out, "w"))


def cmd_burst(a):
    body = open(a.body, "rb").read()
    uid = json.loads(body)["request"]["uid"]
    ctx = context(a.ca)
    conns = []
    for _ in range(a.n):
        c = http.client.HTTPSConnection("127.0.0.1", a.port, context=ctx, timeout=60)
        c.connect()
        conns.append(c)
    barrier = threading.Barrier(a.n)
    results = [None] * a.n
    errors = []

    def one(i):
        try:
            barrier.wait()
            ns, ms, answer = post(conns[i], body)
            check(answer, uid)
            results[i] = ns / 1e6
        except Exception as e:  # reported below, the run fails
            errors.append(repr(e))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(a.n)]
    t0 = time.perf_counter_ns()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = (time.perf_counter_ns() - t0) / 1e6
    for c in conns:
        c.close()
    if errors:
        print("burst: %d of %d requests failed: %s" % (len(errors), a.n, errors[0]), file=sys.stderr)
        sys.exit(1)
    json.dump({"wall_ms": wall, "client_ms": stats(results)}, open(a.out, "w"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("body")
    b.add_argument("--images", nargs="+", required=True)
    b.add_argument("--uid", default="bench-0001")
    b.add_argument("--out", required=True)
    for name in ("latency", "burst"):
        p = sub.add_parser(name)
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--ca", required=True)
        p.add_argument("--body", required=True)
        p.add_argument("-n", type=int, required=True)
        p.add_argument("--out", required=True)
        if name == "latency":
            p.add_argument("--warmup", type=int, default=20)
    a = ap.parse_args()
    {"body": cmd_body, "latency": cmd_latency, "burst": cmd_burst}[a.cmd](a)


if __name__ == "__main__":
    main()
