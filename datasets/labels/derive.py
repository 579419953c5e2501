"""Derive datasets/labels/ethereum-labels.csv from the shared label sets.

Run from the project root with the shared data beside it:
    python3 datasets/labels/derive.py ../shared/datasets > datasets/labels/ethereum-labels.csv
The output is committed; a fresh clone does not need the shared data.
"""
import csv
import json
import sys

root = sys.argv[1]
rows = {}


def add(address, category, label):
    address = address.strip().lower()
    if len(address) != 42 or not address.startswith("0x"):
        return
    rows.setdefault((address, category), label.strip())


# OFAC SDN Ethereum addresses with their entity (public domain data, MIT repo).
with open(f"{root}/ofac-eth-addresses-with-entity-ultrasoundmoney/data.csv") as f:
    for r in csv.DictReader(f):
        add(r["address"], "sanctioned", r["name"])

# Tornado Cash contracts (mixer endpoints), Ethereum only.
with open(f"{root}/derived-tornado-cash-contracts/tornado_cash_addresses.csv") as f:
    for r in csv.DictReader(f):
        if r["chain"] == "ethereum":
            add(r["address"], "mixer", r["name"])

# Etherscan label cloud (2023 snapshot): centralised exchanges, bridges, mixers.
EXCHANGES = {
    "binance", "coinbase", "kraken", "huobi", "okx", "kucoin", "ftx", "upbit", "bitfinex",
    "crypto-com", "gemini", "bitstamp", "bittrex", "gate-io", "hotbit", "bybit", "mexc",
    "poloniex", "coinsquare", "bithumb", "bitmex", "bitget", "hitbtc", "liquid", "digifinex",
    "bitmart", "coinone", "korbit", "bkex", "zb-com", "lbank", "coinex", "probit", "bilaxy",
    "exmo", "cex-io", "yobit", "bitkub", "indodax", "wazirx", "paribu", "btcturk", "bitflyer",
    "bitpanda", "luno", "coincheck", "zaif", "bitso", "nexo", "celsius-network", "blockfi",
    "exchange", "binance-deposit", "kraken-deposit",
}
with open(f"{root}/etherscan-labels-brianleect/data/etherscan/combined/combinedAccountLabels.json") as f:
    labels = json.load(f)
for address, v in labels.items():
    slugs = set(v["labels"])
    name = v.get("name", "")
    if slugs & EXCHANGES:
        add(address, "exchange", name)
    if "bridge" in slugs:
        add(address, "bridge", name)
    if slugs & {"tornado-cash", "ethereum-mixer"}:
        add(address, "mixer", name)

out = csv.writer(sys.stdout, lineterminator="\n")
out.writerow(["address", "category", "label"])
for (address, category), label in sorted(rows.items()):
    out.writerow([address, category, label])
