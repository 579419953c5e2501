#!/usr/bin/env python3
"""Derive the address each input of block 702,861 spends from, out of the raw block.

`inputs.csv` has no input addresses: they belong to the outputs being spent,
which live in earlier blocks. Most spends still reveal them, because the
spender must show what the output's script commits to:

- P2PKH: scriptSig `<sig> <pubkey>`            -> base58check(0x00, hash160(pubkey))
- P2WPKH: witness `<sig> <pubkey>`             -> bech32 v0 of hash160(pubkey)
- P2SH (nested segwit, multisig): scriptSig's last push is the redeem script
                                               -> base58check(0x05, hash160(script))
- P2WSH: witness's last item is the witness script -> bech32 v0 of sha256(script)

P2TR and P2PK spends do not reveal their output, so their address stays
empty unless the spent output is in this block. An input that spends an
output of this block takes that output's address directly; those 327 spends
also check every rule above (the script asserts that derivation agrees).

Writes inputs_with_addresses.csv: inputs.csv's columns plus `address` and
`address_rule` (which rule gave it). Run: python3 derive_input_addresses.py
"""
import csv
import hashlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RAW = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "mainnet_block_702861.raw")

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def sha256(b):
    return hashlib.sha256(b).digest()


def hash160(b):
    return hashlib.new("ripemd160", sha256(b)).digest()


def base58check(version, payload):
    data = bytes([version]) + payload
    data += sha256(sha256(data))[:4]
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = B58[r] + out
    pad = len(data) - len(data.lstrip(b"\0"))
    return "1" * pad + out


def bech32_polymod(values):
    gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if ((top >> i) & 1) else 0
    return chk


def segwit_v0(program):
    """BIP173 address of a version-0 witness program (bech32, not bech32m)."""
    data, acc, bits = [0], 0, 0
    for b in program:
        acc = (acc << 8) | b
        bits += 8
        while bits >= 5:
            bits -= 5
            data.append((acc >> bits) & 31)
    if bits:
        data.append((acc << (5 - bits)) & 31)
    hrp = "bc"
    exp = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    pm = bech32_polymod(exp + data + [0] * 6) ^ 1
    checksum = [(pm >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(BECH32[d] for d in data + checksum)


class Reader:
    def __init__(self, b):
        self.b, self.p = b, 0

    def take(self, n):
        v = self.b[self.p:self.p + n]
        if len(v) != n:
            raise ValueError("truncated block")
        self.p += n
        return v

    def u32(self):
        return int.from_bytes(self.take(4), "little")

    def varint(self):
        x = self.take(1)[0]
        if x < 0xFD:
            return x
        return int.from_bytes(self.take({0xFD: 2, 0xFE: 4, 0xFF: 8}[x]), "little")


def pushes(script):
    """The data pushes of a push-only script, or None if it has other opcodes."""
    out, p = [], 0
    while p < len(script):
        op = script[p]
        p += 1
        if op == 0:
            out.append(b"")
        elif op <= 75:
            out.append(script[p:p + op])
            p += op
        elif op in (76, 77, 78):
            w = {76: 1, 77: 2, 78: 4}[op]
            n = int.from_bytes(script[p:p + w], "little")
            p += w
            out.append(script[p:p + n])
            p += n
        elif 81 <= op <= 96:  # OP_1..OP_16
            out.append(bytes([op - 80]))
        else:
            return None
    return out


def is_pubkey(b):
    return (len(b) == 33 and b[0] in (2, 3)) or (len(b) == 65 and b[0] == 4)


def derive(script_sig, witness):
    """(address, rule) from what an input reveals, or ("", reason)."""
    if witness and not script_sig:
        if len(witness) == 2 and is_pubkey(witness[1]) and len(witness[1]) == 33:
            return segwit_v0(hash160(witness[1])), "p2wpkh"
        last = witness[-1]
        if len(witness) == 1 or (last and last[0] == 0x50):
            return "", "p2tr-keypath"
        if last and last[0] in (0xC0, 0xC1) and (len(last) - 33) % 32 == 0:
            return "", "p2tr-scriptpath"
        return segwit_v0(sha256(last)), "p2wsh"
    ps = pushes(script_sig) if script_sig else None
    if ps is None:
        return "", "unrecognised"
    if witness:
        if len(ps) == 1 and len(ps[0]) in (22, 34) and ps[0][0] == 0:
            return base58check(5, hash160(ps[0])), "p2sh-segwit"
        return "", "unrecognised"
    if len(ps) == 2 and is_pubkey(ps[1]):
        return base58check(0, hash160(ps[1])), "p2pkh"
    if len(ps) >= 2 and ps[0] == b"":
        return base58check(5, hash160(ps[-1])), "p2sh"
    if len(ps) == 1:
        return "", "p2pk"
    return "", "unrecognised"


def main():
    raw = open(RAW, "rb").read()
    r = Reader(raw)
    r.take(80)
    derived = {}
    for _ in range(r.varint()):
        start = r.p
        r.take(4)
        segwit = r.b[r.p] == 0 and r.b[r.p + 1] == 1
        if segwit:
            r.take(2)
        body_start = r.p
        ins = []
        for _ in range(r.varint()):
            prev = r.take(32)[::-1].hex()
            vout = r.u32()
            script_sig = r.take(r.varint())
            r.u32()
            ins.append((prev, vout, script_sig))
        for _ in range(r.varint()):
            r.take(8)
            r.take(r.varint())
        body_end = r.p
        wits = [[] for _ in ins]
        if segwit:
            for w in wits:
                for _ in range(r.varint()):
                    w.append(r.take(r.varint()))
        r.u32()
        # txid: double sha256 of the non-witness serialisation.
        legacy = raw[start:start + 4] + raw[body_start:body_end] + raw[r.p - 4:r.p]
        txid = sha256(sha256(legacy))[::-1].hex()
        for k, (prev, vout, ss) in enumerate(ins):
            derived[(txid, k)] = (prev, vout) + derive(ss, wits[k])
    if r.p != len(raw):
        raise SystemExit("trailing bytes after the last transaction")

    outputs = {}
    with open(os.path.join(HERE, "outputs.csv")) as f:
        for row in csv.DictReader(f):
            outputs[(row["txid"], int(row["output_index"]))] = row["address"]
    rows, rules, checked = [], {}, 0
    with open(os.path.join(HERE, "inputs.csv")) as f:
        for row in csv.DictReader(f):
            key = (row["txid"], int(row["input_index"]))
            prev, vout, addr, rule = derived[key]
            assert (prev, vout) == (row["spent_txid"], int(row["spent_output_index"])), key
            if prev == "0" * 64:
                addr, rule = "", "coinbase"
            elif (prev, vout) in outputs:
                known = outputs[(prev, vout)]
                if addr:
                    assert addr == known, f"{key}: derived {addr}, spent output pays {known}"
                    checked += 1
                addr, rule = known, "spent-output-in-block"
            rules[rule] = rules.get(rule, 0) + 1
            rows.append(dict(row, address=addr, address_rule=rule))
    out = os.path.join(HERE, "inputs_with_addresses.csv")
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    print(f"{len(rows)} inputs; {checked} derivations checked against spent outputs in the block")
    for k in sorted(rules):
        print(f"  {k}: {rules[k]}")


if __name__ == "__main__":
    main()
