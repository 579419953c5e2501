"""Whether two exposure index files hold the same answers.

usage: same_index.py A B   (exit 0: the same)

Compares the headers without what says whether the sweep's end state is in
the file (`resumable`, the section offsets, the state sections' checksums),
and the bytes of the sections answers read (slots, received, offsets,
entries, seeds, preds). The sweep across processes keeps no end state, so
its index differs from one process's there and nowhere else.
"""
import json
import struct
import sys


def answers(path):
    b = open(path, "rb").read()
    (n,) = struct.unpack("<Q", b[8:16])
    meta = json.loads(b[16 : 16 + n])
    sections = meta.pop("sections")
    meta.pop("resumable")
    meta["xxh3"] = meta["xxh3"][:6]
    return meta, [b[s["offset"] : s["offset"] + s["bytes"]] for s in sections[:6]]


sys.exit(0 if answers(sys.argv[1]) == answers(sys.argv[2]) else 1)
