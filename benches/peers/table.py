"""Check the peers' answers against chaintrace's and print the comparison table.

    python table.py WORK SIZE EVENTS CSV_BYTES [SET]
"""

import json
import sys


def main():
    work, size, events, csv_bytes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    data_set = sys.argv[5] if len(sys.argv) > 5 else "world"
    rows = {}
    for line in open(f"{work}/results.tsv"):
        name, secs, mib = line.rstrip("\n").split("\t")
        rows[name] = (float(secs), int(mib))

    def out(name):
        return json.load(open(f"{work}/{name}.out"))

    def ct(policy, rows="destinations"):
        r = json.load(open(f"{work}/chaintrace-{policy}.json"))
        return {d["address"]: d["amount"] for d in r[rows]}

    failures = []
    checks = []
    if not ct("haircut"):
        # Too small a world for the hack's proceeds to reach a service: nothing to compare.
        failures.append("no destinations found; use a larger SIZE")
    if "networkx haircut" in rows:
        got, want = out("networkx haircut")["destinations"], ct("haircut")
        ok = got == want
        checks.append(f"networkx haircut destinations {'==' if ok else '!='} chaintrace ({len(want)} destinations, amounts to the wei)")
        ok or failures.append("networkx haircut")
        got, want = out("networkx haircut")["dormant"], ct("haircut", "dormant")
        ok = got == want
        checks.append(f"networkx haircut dormant addresses {'==' if ok else '!='} chaintrace ({len(want)} addresses, amounts to the wei)")
        ok or failures.append("networkx haircut dormant")
    if "networkx poison" in rows:
        got, want = out("networkx poison")["destinations"], ct("poison")
        ok = got == want
        checks.append(f"networkx poison destinations {'==' if ok else '!='} chaintrace ({len(want)} destinations, amounts to the wei)")
        ok or failures.append("networkx poison")
    if "duckdb poison" in rows:
        got, want = out("duckdb poison")["destinations"], sorted(ct("poison"))
        ok = got == want
        checks.append(f"duckdb poison destinations {'==' if ok else '!='} chaintrace ({len(want)} addresses)")
        ok or failures.append("duckdb poison")
    if "polars ingest" in rows:
        got = out("polars ingest")["events"]
        ok = got == events
        checks.append(f"polars ingest events {got} {'==' if ok else '!='} chaintrace store events {events}")
        ok or failures.append("polars ingest")

    ingest = rows["chaintrace ingest"][0] + rows["chaintrace labels"][0] + rows.get("chaintrace first open", (0.0, 0))[0]
    scan = rows["floor: scan columns"][0]
    # End to end: what each tool needs to answer from the CSV files.
    tasks = [
        ("read the CSV bytes from disk (floor)", "floor: cat csv cold", None),
        ("read the CSV bytes, cached (floor)", "floor: cat csv", None),
        ("stream the stored columns (floor)", "floor: scan columns", None),
        ("ingest (chaintrace)", "chaintrace ingest", None),
        ("first open: checksums (chaintrace)", "chaintrace first open", None),
        ("ingest (polars)", "polars ingest", "chaintrace ingest"),
    ]
    table = []
    print(f"\n## {data_set}: {size:,} events ({events:,} in the store), {csv_bytes / 1e9:.2f} GB of CSV\n")
    print("| task | tool | wall s | M events/s | peak MiB | vs chaintrace |")
    print("|---|---|---|---|---|---|")

    def line(task, tool, secs, mib, base):
        ratio = f"{secs / base:.1f}x slower" if base else ""
        print(f"| {task} | {tool} | {secs:.3f} | {events / secs / 1e6:.2f} | {mib} | {ratio} |")

    for task, name, base in tasks:
        if name in rows:
            s, m = rows[name]
            line(task, name.split(" ")[0].rstrip(":") if not name.startswith("floor") else name[7:], s, m, rows[base][0] if base else None)
    for p in ["haircut", "poison", "fifo"]:
        s, m = rows[f"chaintrace {p}"]
        e2e = ingest + s
        print(f"| {p} trace alone | chaintrace | {s:.3f} | {events / s / 1e6:.2f} | {m} | {s / scan:.1f}x the column scan |")
        print(f"| {p} end to end | chaintrace (ingest + labels + first open + trace) | {e2e:.3f} | {events / e2e / 1e6:.2f} | {max(m, rows['chaintrace ingest'][1])} | |")
        for peer in [f"networkx {p}", f"duckdb {p}"]:
            if peer in rows:
                ps, pm = rows[peer]
                print(f"| {p} end to end | {peer.split()[0]} | {ps:.3f} | {events / ps / 1e6:.2f} | {pm} | {ps / e2e:.1f}x slower |")
    # The two costs apart: loading once, then answering on loaded data.
    print("\nThe two costs apart: loading the data once, then answering one question on the loaded data with a written report.\n")
    print("| step | tool | load s | answer s (trace + report) | answer vs chaintrace |")
    print("|---|---|---|---|---|")
    load_ct = rows["chaintrace ingest"][0] + rows["chaintrace labels"][0] + rows.get("chaintrace first open", (0.0, 0))[0]
    if "polars ingest" in rows:
        print(f"| load | polars (read, key order, interning) | {out('polars ingest')['ingest_s']:.3f} | | |")
    for p in ["haircut", "poison"]:
        answer = rows[f"chaintrace {p}"][0]
        print(f"| {p} | chaintrace (ingest + labels + first open; trace command, default report) | {load_ct:.3f} | {answer:.3f} | |")
        for peer in [f"networkx {p}", f"duckdb {p}"]:
            if peer in rows:
                o = out(peer)
                a = o["trace_s"] + o.get("report_s", 0.0)
                print(
                    f"| {p} | {peer.split()[0]} ({o['trace_s']:.3f} + {o.get('report_s', 0.0):.3f}) | {o['load_s']:.3f} | {a:.3f} | "
                    f"{a / answer:.1f}x chaintrace's time |"
                )
    print()
    for c in checks:
        print(f"- {c}")
    if failures:
        print(f"\nMISMATCH: {', '.join(failures)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
