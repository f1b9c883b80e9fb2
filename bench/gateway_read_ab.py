"""The gateway's pass-through read, two commits side by side on one identity (issue 6).

    git worktree add /tmp/base <commit>
    .venv/bin/python bench/gateway_read_ab.py --base /tmp/base [--db sqlite|postgres] [--rounds 3] [--duration 8]

Starts one identity (2 workers, three communes) and two gateways on it (2 workers each,
GATEWAY_COMMUNES_KEPT_SECONDS=0): "base" runs the packages of the worktree given (`PYTHONPATH` to its
libs/servicekit and gateway), "new" this tree's. Each round measures identity direct, then the base
gateway, then the new one (wrk -t2 -c16), with the CPU each server's workers used per request (µs,
from /proc): identity's (direct X, via a gateway X') and the gateway's (Y). On a shared machine Y, the
gateway's own cost, moves less than req/s.
"""
import argparse
import os, statistics, subprocess, sys, tempfile
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from gateway_read import free_port, wait_ok, wrk
from service_read import worker_cpu, COMMUNES, prepare_database
PY = sys.executable
parser = argparse.ArgumentParser()
parser.add_argument("--base", required=True, help="a worktree of the commit to compare with")
parser.add_argument("--db", default="sqlite", choices=("sqlite", "postgres"))
parser.add_argument("--rounds", type=int, default=3)
parser.add_argument("--duration", type=int, default=8)
args = parser.parse_args()
BASE, kind, rounds, dur = args.base, args.db, args.rounds, args.duration
var = Path(tempfile.mkdtemp(prefix="gwapi-"))
url, drop = prepare_database(kind, var)
env = {k: v for k, v in os.environ.items() if not k.endswith("DATABASE_URL") and k != "PROMETHEUS_MULTIPROC_DIR"}
env.update(EF_ENV="development", EF_VAR_DIR=str(var), LOG_FORMAT="text", LOG_LEVEL="WARNING",
           WEB_CONCURRENCY="2", IDENTITY_DATABASE_URL=url)
subprocess.run([PY, "-m", "identity", "migrate"], env=env, cwd=var, check=True, stdout=subprocess.DEVNULL)
for slug, name in COMMUNES:
    subprocess.run([PY, "-m", "identity", "create-commune", "--slug", slug, "--name", name], env=env, cwd=var, check=True, stdout=subprocess.DEVNULL)
pi, pb, pn = free_port(), free_port(), free_port()
q = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "cwd": var}
gw = {"IDENTITY_URL": f"http://127.0.0.1:{pi}", "GATEWAY_COMMUNES_KEPT_SECONDS": "0"}
procs = {
 "identity": subprocess.Popen([PY, "-m", "identity", "web"], env={**env, "BIND": f"127.0.0.1:{pi}"}, **q),
 "base": subprocess.Popen([PY, "-m", "gateway", "web"], env={**env, **gw, "BIND": f"127.0.0.1:{pb}",
          "PYTHONPATH": f"{BASE}/libs/servicekit:{BASE}/gateway"}, **q),
 "new": subprocess.Popen([PY, "-m", "gateway", "web"], env={**env, **gw, "BIND": f"127.0.0.1:{pn}"}, **q),
}
urls = {"direct": f"http://127.0.0.1:{pi}/internal/communes", "base": f"http://127.0.0.1:{pb}/api/communes",
        "new": f"http://127.0.0.1:{pn}/api/communes"}
res = {k: [] for k in urls}
try:
    for k, p in (("direct", "identity"), ("base", "base"), ("new", "new")):
        wait_ok(urls[k], procs[p])
    for u in urls.values():
        wrk(u, 2, 16, 2)
    for r in range(rounds):
        for k, u in urls.items():
            before = {n: worker_cpu(p) for n, p in procs.items()}
            out = wrk(u, dur, 16, 2)
            n = max(out["requests"], 1)
            cpu = {nm: (worker_cpu(p) - before[nm]) * 1e6 / n for nm, p in procs.items()}
            res[k].append((out["rps"], cpu))
            gwcpu = cpu.get(k, 0) if k != "direct" else 0
            print(f"round {r} {k:6s} rps {out['rps']:7.0f} identity {cpu['identity']:6.0f} us  gateway {gwcpu:6.0f} us  non2xx {out['non2xx']}  load {os.getloadavg()[0]:.1f}", flush=True)
    for k in ("base", "new"):
        ys = [c[k] for _, c in res[k]]; xs = [c["identity"] for _, c in res[k]]
        rat = [res[k][i][0] / res["direct"][i][0] for i in range(rounds)]
        print(f"{k}: Y {statistics.median(ys):.0f} (min {min(ys):.0f}) X' {statistics.median(xs):.0f}  ratio med {statistics.median(rat):.2f} {['%.2f'%x for x in rat]}")
    print("X direct", statistics.median(c['identity'] for _, c in res['direct']))
finally:
    for p in procs.values(): p.terminate()
    for p in procs.values(): p.wait(20)
    drop()
