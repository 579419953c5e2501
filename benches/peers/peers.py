"""The tools an investigator would otherwise use, on the same files as chaintrace.

Each peer reads the blockchain-etl exports that `chaintrace-gen world` wrote
and answers the same question with the semantics of TRACING.md §2 (ETH only):
events in key order (block, transaction index, then the top call, internal
transfers in trace order and the fee last); zero values move nothing; an
overdraft is first credited as unknown origin; a self-transfer moves nothing;
seeds hold nothing but taint; the fee sink and labelled stops absorb. Amounts
are Python integers, exact.

    python peers.py networkx-haircut DIR SEED STOPS   # destinations, haircut
    python peers.py networkx-poison  DIR SEED STOPS   # destinations reached, poison
    python peers.py polars-ingest    DIR               # the ingest step: event table in key order
    python peers.py duckdb-poison    DIR SEED STOPS   # reachability as a recursive SQL query

Each prints one JSON object on stdout: what it found, and its own timings:
`load_s` (the files read into the tool's own structure: a graph, a
table), `trace_s` (the question answered on it) and `report_s` (the
answer written as a report: every destination with its amount, and under
haircut every dormant address with its, sorted as chaintrace sorts them,
JSON to a file beside the inputs). The wide set (`chaintrace-gen wide`)
has no receipts, traces or token transfers: no fees are modelled there.
"""

import json
import sys
import time

FEES = "(fees)"
TOP, TRACE, FEE = 1, 2, 7


def read_events_csv(d):
    """ETH events from the CSVs with the csv module: (key, from, to, value)."""
    import csv

    import os

    events = []
    with open(f"{d}/transactions.csv", newline="") as f:
        rows = csv.DictReader(f)
        fees = "receipt_gas_used" in (rows.fieldnames or [])
        for r in rows:
            b, ix = int(r["block_number"]), int(r["transaction_index"])
            events.append(((b, ix, TOP, 0), r["from_address"], r["to_address"], int(r["value"])))
            if fees:
                fee = int(r["receipt_gas_used"]) * int(r["receipt_effective_gas_price"])
                events.append(((b, ix, FEE, 0), r["from_address"], FEES, fee))
    if not os.path.exists(f"{d}/traces.csv"):
        return events
    with open(f"{d}/traces.csv", newline="") as f:
        for r in csv.DictReader(f):
            if r["trace_address"] == "":
                continue  # the top call, already a transaction
            b, ix = int(r["block_number"]), int(r["transaction_index"])
            events.append(((b, ix, TRACE, int(r["trace_address"]) + 1), r["from_address"], r["to_address"], int(r["value"])))
    return events


def stops_of(d, categories):
    import csv

    want = set(categories.split(","))
    with open(f"{d}/labels.csv", newline="") as f:
        return {r["address"] for r in csv.DictReader(f) if r["category"] in want}


def sweep(edges, seed, stops, policy):
    """The time-ordered sweep over (from, to, value) in key order."""
    bal, taint, poisoned = {}, {}, {seed}
    dest = {}
    for u, v, a in edges:
        if a == 0:
            continue
        bu = bal.get(u, 0)
        if bu < a:
            bal[u] = bu = a
        if u == v:
            continue
        if u == seed or (policy == "poison" and u in poisoned):
            x = a
        elif policy == "haircut":
            t = taint.get(u, 0)
            x = a * t // bu if t else 0
            if x:
                taint[u] = t - x
        else:
            x = 0
        bal[u] = bu - a
        bal[v] = bal.get(v, 0) + a
        if v == seed or x == 0:
            continue
        if v == FEES or v in stops:
            dest[v] = dest.get(v, 0) + x
            continue
        if policy == "poison":
            poisoned.add(v)
        else:
            taint[v] = taint.get(v, 0) + x
    dest.pop(FEES, None)
    dormant = {} if policy == "poison" else {a: t for a, t in taint.items() if t and a != seed and a not in stops}
    return dest, dormant


def write_report(path, dest, dormant):
    """The answer as a report: rows sorted by amount descending, then address."""
    rows = lambda m: [{"address": a, "amount": str(x)} for a, x in sorted(m.items(), key=lambda r: (-r[1], r[0]))]
    with open(path, "w") as f:
        json.dump({"destinations": rows(dest), "dormant": rows(dormant)}, f, indent=2)


def networkx_trace(d, seed, stop_categories, policy):
    import networkx as nx

    t0 = time.perf_counter()
    events = read_events_csv(d)
    g = nx.MultiDiGraph()
    for key, u, v, a in events:
        g.add_edge(u, v, key=key, value=a)
    t1 = time.perf_counter()
    stops = stops_of(d, stop_categories)
    # Time-ordered: every edge of the graph in key order.
    ordered = sorted(g.edges(keys=True, data="value"), key=lambda e: e[2])
    dest, dormant = sweep(((u, v, a) for u, v, _, a in ordered), seed, stops, policy)
    t2 = time.perf_counter()
    write_report(f"{d}/networkx-{policy}-report.json", dest, dormant)
    t3 = time.perf_counter()
    return {
        "destinations": {k: str(v) for k, v in dest.items()},
        "dormant": {k: str(v) for k, v in dormant.items()},
        "load_s": t1 - t0,
        "trace_s": t2 - t1,
        "report_s": t3 - t2,
        "edges": g.number_of_edges(),
    }


def polars_ingest(d):
    import polars as pl

    import os

    if not os.path.exists(f"{d}/traces.csv"):
        return polars_ingest_plain(d)
    t0 = time.perf_counter()
    tx = pl.read_csv(f"{d}/transactions.csv", infer_schema_length=0)
    tr = pl.read_csv(f"{d}/traces.csv", infer_schema_length=0)
    tok = pl.read_csv(f"{d}/token_transfers.csv", infer_schema_length=0)
    i64, big = pl.Int64, pl.Decimal(38, 0)
    top = tx.select(
        pl.col("block_number").cast(i64).alias("block"), pl.col("transaction_index").cast(i64).alias("ix"),
        pl.lit(TOP).alias("class"), pl.lit(0).cast(i64).alias("pos"), pl.col("from_address").alias("from"),
        pl.col("to_address").alias("to"), pl.lit("ETH").alias("asset"), pl.col("value").cast(big).alias("value"))
    fee = tx.select(
        pl.col("block_number").cast(i64).alias("block"), pl.col("transaction_index").cast(i64).alias("ix"),
        pl.lit(FEE).alias("class"), pl.lit(0).cast(i64).alias("pos"), pl.col("from_address").alias("from"),
        pl.lit(FEES).alias("to"), pl.lit("ETH").alias("asset"),
        (pl.col("receipt_gas_used").cast(big) * pl.col("receipt_effective_gas_price").cast(big)).cast(big).alias("value"))
    internal = tr.filter(pl.col("trace_address").is_not_null()).select(
        pl.col("block_number").cast(i64).alias("block"), pl.col("transaction_index").cast(i64).alias("ix"),
        pl.lit(TRACE).alias("class"), (pl.col("trace_address").cast(i64) + 1).alias("pos"),
        pl.col("from_address").alias("from"), pl.col("to_address").alias("to"), pl.lit("ETH").alias("asset"),
        pl.col("value").cast(big).alias("value"))
    logs = tok.join(tx.select(pl.col("hash"), pl.col("transaction_index")), left_on="transaction_hash", right_on="hash").select(
        pl.col("block_number").cast(i64).alias("block"), pl.col("transaction_index").cast(i64).alias("ix"),
        pl.lit(3).alias("class"), pl.col("log_index").cast(i64).alias("pos"), pl.col("from_address").alias("from"),
        pl.col("to_address").alias("to"), pl.col("token_address").alias("asset"), pl.col("value").cast(big).alias("value"))
    ev = pl.concat([top, fee, internal, logs]).sort(["block", "ix", "class", "pos"])
    # Interning, as a store does: addresses to dense integer ids.
    ids = pl.concat([ev["from"], ev["to"]]).unique().to_frame("address").with_row_index("id")
    ev = ev.join(ids, left_on="from", right_on="address").rename({"id": "from_id"}).join(
        ids, left_on="to", right_on="address").rename({"id": "to_id"})
    t1 = time.perf_counter()
    return {"events": ev.height, "addresses": ids.height, "ingest_s": t1 - t0}


def polars_ingest_plain(d):
    """The ingest step of a set of transactions alone (no receipts: no fees)."""
    import polars as pl

    t0 = time.perf_counter()
    tx = pl.read_csv(f"{d}/transactions.csv", infer_schema_length=0)
    ev = tx.select(
        pl.col("block_number").cast(pl.Int64).alias("block"), pl.col("transaction_index").cast(pl.Int64).alias("ix"),
        pl.col("from_address").alias("from"), pl.col("to_address").alias("to"), pl.col("value").cast(pl.Decimal(38, 0)).alias("value"),
    ).sort(["block", "ix"])
    ids = pl.concat([ev["from"], ev["to"]]).unique().to_frame("address").with_row_index("id")
    ev = ev.join(ids, left_on="from", right_on="address").rename({"id": "from_id"}).join(
        ids, left_on="to", right_on="address").rename({"id": "to_id"})
    t1 = time.perf_counter()
    return {"events": ev.height, "addresses": ids.height, "ingest_s": t1 - t0}


def duckdb_poison(d, seed, stop_categories):
    import duckdb

    t0 = time.perf_counter()
    import os

    con = duckdb.connect()
    top = f"""
        SELECT block_number::BIGINT AS block, transaction_index::BIGINT AS ix, 1 AS cls, 0 AS pos,
               from_address AS src, to_address AS dst, value::HUGEINT AS value
          FROM read_csv('{d}/transactions.csv', all_varchar = true)"""
    if os.path.exists(f"{d}/traces.csv"):
        top += f"""
        UNION ALL
        SELECT block_number::BIGINT, transaction_index::BIGINT, 7, 0, from_address, '{FEES}',
               receipt_gas_used::HUGEINT * receipt_effective_gas_price::HUGEINT
          FROM read_csv('{d}/transactions.csv', all_varchar = true)
        UNION ALL
        SELECT block_number::BIGINT, transaction_index::BIGINT, 2, trace_address::BIGINT + 1,
               from_address, to_address, value::HUGEINT
          FROM read_csv('{d}/traces.csv', all_varchar = true) WHERE trace_address IS NOT NULL"""
    con.execute(f"CREATE TABLE ev AS {top}")
    con.execute("""
        CREATE TABLE edges AS
        SELECT src, dst, row_number() OVER (ORDER BY block, ix, cls, pos) AS k
          FROM ev WHERE value > 0 AND src <> dst
    """)
    stops = sorted(stops_of(d, stop_categories) | {FEES})
    con.execute("CREATE TABLE stops(a VARCHAR)")
    con.executemany("INSERT INTO stops VALUES (?)", [[s] for s in stops])
    t1 = time.perf_counter()
    # Time-respecting reachability: an address reached by edge k passes taint
    # along its edges after k; stops absorb. USING KEY keeps one row per
    # address, the earliest arrival.
    rows = con.execute("""
        WITH RECURSIVE reach(addr, k) USING KEY (addr) AS (
            SELECT ?::VARCHAR, 0::BIGINT
            UNION
            SELECT e.dst, min(e.k)
              FROM reach r JOIN edges e ON e.src = r.addr AND e.k > r.k
             WHERE r.addr NOT IN (SELECT a FROM stops) OR r.addr = ?
             GROUP BY e.dst
            HAVING min(e.k) < coalesce((SELECT k FROM recurring.reach x WHERE x.addr = e.dst), 9223372036854775807)
        )
        SELECT addr FROM reach WHERE addr IN (SELECT a FROM stops) AND addr <> ?
    """, [seed, seed, FEES]).fetchall()
    t2 = time.perf_counter()
    # Poison's report: the destinations reached (the query gives no amounts).
    with open(f"{d}/duckdb-poison-report.json", "w") as f:
        json.dump({"destinations": [{"address": a} for a in sorted(r[0] for r in rows)]}, f, indent=2)
    t3 = time.perf_counter()
    return {"destinations": sorted(r[0] for r in rows), "load_s": t1 - t0, "trace_s": t2 - t1, "report_s": t3 - t2}


def main():
    cmd, d = sys.argv[1], sys.argv[2]
    if cmd == "networkx-haircut":
        out = networkx_trace(d, sys.argv[3], sys.argv[4], "haircut")
    elif cmd == "networkx-poison":
        out = networkx_trace(d, sys.argv[3], sys.argv[4], "poison")
    elif cmd == "polars-ingest":
        out = polars_ingest(d)
    elif cmd == "duckdb-poison":
        out = duckdb_poison(d, sys.argv[3], sys.argv[4])
    else:
        raise SystemExit(f"unknown peer {cmd}")
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
