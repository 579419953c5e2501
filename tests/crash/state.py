"""The state of a chaintrace store as a reader sees it, as one digest.

usage: state.py STORE

Prints `none` for a directory with no live generation (no CURRENT), else a
SHA-256 over CURRENT, the live generation's manifest, every segment that
manifest lists and every exposure index a reader of the live generation
opens (a base written for it, or a base and the delta over it), then the
number of other entries (debris a killed writer may leave for the next one
to remove: older generations' indexes among them), as `DIGEST debris=N`.
"""
import hashlib
import json
import os
import sys

store = sys.argv[1]
cur = os.path.join(store, "CURRENT")
if not os.path.isfile(cur):
    print("none")
    sys.exit(0)
h = hashlib.sha256()
used = {"CURRENT", "LOCK", "VERIFIED"}


def add(rel):
    h.update(rel.encode() + b"\0")
    with open(os.path.join(store, rel), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)


current = open(cur).read()
add("CURRENT")
gen = current.split()[0]
used.add(gen)
add(f"{gen}/manifest.json")
manifest = json.load(open(os.path.join(store, gen, "manifest.json")))
for seg in manifest["segments"]:
    used.add(seg["name"])
    add(seg["name"])
exposure = os.path.join(store, "exposure")
indexes = set()
if os.path.isdir(exposure):
    used.add("exposure")
    names = set(os.listdir(exposure))
    for name in sorted(names):
        if not name.startswith(gen + "."):
            continue
        stem, _, kind = name.rpartition(".")
        if kind == "idx" or (kind == "base" and stem + ".delta" in names) or (kind == "delta" and stem + ".base" in names):
            indexes.add(name)
            add(f"exposure/{name}")
# Entries beside those: in the store directory, and in the live generation's
# and the exposure index's directories.
debris = [e for e in os.listdir(store) if e not in used and not e.endswith(".txt")]
debris += [e for e in os.listdir(os.path.join(store, gen)) if e != "manifest.json"]
if os.path.isdir(exposure):
    debris += [e for e in os.listdir(exposure) if e not in indexes]
if debris and os.environ.get("SHOW_DEBRIS"):
    print(" ".join(sorted(debris)), file=sys.stderr)
print(f"{h.hexdigest()} debris={len(debris)}")
