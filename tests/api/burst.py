"""A burst of concurrent traces against a running `chaintrace serve`.

usage: burst.py ADDR PID SEED CONCURRENT EXPECT

Sends CONCURRENT haircut traces from SEED at once, each on its own
connection, then checks every answer's status is one of EXPECT (a
comma-separated list), that some got the first of them, and that within
5 s of the burst a trace is answered as a lone request is (the permits of
stopped traces came back). Prints the statuses counted and the server's
peak resident memory (VmHWM of PID).
"""
import collections
import concurrent.futures
import json
import sys
import time
import urllib.error
import urllib.request

addr, pid, seed, n, expect = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5].split(",")
body = json.dumps({"policy": "haircut", "seeds": [seed], "stop_at": ["exchange", "mixer"]}).encode()


def ask():
    req = urllib.request.Request(f"http://{addr}/v1/trace", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            r.read()
            return str(r.status), ""
    except urllib.error.HTTPError as e:
        err = json.loads(e.read())["error"]
        return str(e.code), err["code"]


started = time.time()
with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
    answers = list(pool.map(lambda _: ask(), range(n)))
took = time.time() - started
counts = collections.Counter(f"{s} {c}".strip() for s, c in answers)
hwm = next((l.split()[1] for l in open(f"/proc/{pid}/status") if l.startswith("VmHWM")), "?")
print(f"  {n} traces at once in {took:.2f} s: {dict(sorted(counts.items()))}; server peak memory {int(hwm) // 1024} MiB")
bad = [s for s, _ in answers if s not in expect]
if bad:
    sys.exit(f"FAILED: statuses {sorted(set(bad))} outside {expect}")
if not any(s == expect[0] for s, _ in answers):
    sys.exit(f"FAILED: no answer {expect[0]}")
# The stopped traces' permits come back: a lone trace is then answered as
# it would be on an idle server (not 429).
deadline = time.time() + 5
while True:
    s, c = ask()
    if s == expect[0]:
        break
    if time.time() > deadline:
        sys.exit(f"FAILED: 5 s after the burst a lone trace is still answered {s} {c}")
    time.sleep(0.05)
