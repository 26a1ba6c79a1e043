#!/usr/bin/env python3
"""Turn one strongSwan capture into test data (see capture-strongswan.sh).

usage: strongswan-extract.py PCAP CHARON_LOG PSK PROPOSAL ID_I ID_R OUTDIR

Writes the four IKE messages as hex (UDP payloads, the RFC 3948 non-ESP marker removed) and
keys.txt: what the messages say (SPIs, nonces, KE group, parsed here with a minimal walker of
its own), what the initiator's charon logged (g^ir, SKEYSEED, SK_*, its AUTH values), the PSK
and the negotiated suite as IANA IDs.
"""
import os
import re
import struct
import sys

SUITES = {  # strongSwan proposal -> (encr, key bits, prf, integ, dh)
    "aes256-sha256-modp2048": (12, 256, 5, 12, 14),
    "aes256gcm16-prfsha384-ecp384": (20, 256, 6, 0, 20),
    "aes128-sha1-prfsha1-x25519": (12, 128, 2, 2, 31),
}


def udp_payloads(path):
    data = open(path, "rb").read()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic == 0xA1B2C3D4 else ">"
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    assert linktype == 1, "expected an Ethernet capture"
    off = 24
    while off + 16 <= len(data):
        _, _, caplen, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        frame = data[off + 16:off + 16 + caplen]
        off += 16 + caplen
        ip = frame[14:]
        ihl = (ip[0] & 0x0F) * 4
        udp = ip[ihl:]
        sport, dport = struct.unpack(">HH", udp[:4])
        payload = udp[8:]
        if dport == 4500 or sport == 4500:
            if payload[:4] != b"\0\0\0\0":
                continue  # ESP or a keepalive
            payload = payload[4:]
        yield payload


def payloads(msg):
    """(type, body) of each payload in the clear chain, by the generic headers."""
    nxt, off = msg[16], 28
    while nxt:
        n, _, length = struct.unpack(">BBH", msg[off:off + 4])
        yield nxt, msg[off + 4:off + length]
        nxt, off = n, off + length


def log_values(path):
    """name -> bytes for each 'NAME => N bytes @ addr' hexdump in charon's log, in order."""
    out = []
    lines = open(path, errors="replace").read().splitlines()
    for i, line in enumerate(lines):
        m = re.search(r"\[IKE\] (.+?) => (\d+) bytes @", line)
        if not m:
            continue
        n, hexbytes = int(m.group(2)), ""
        for cont in lines[i + 1:]:
            d = re.search(r"\[IKE\]\s+\d+: ((?:[0-9A-F]{2} ){1,16})", cont)
            if not d:
                break
            hexbytes += d.group(1).replace(" ", "")
        out.append((m.group(1), bytes.fromhex(hexbytes)[:n]))
    return out


def main():
    pcap, log, psk, proposal, id_i, id_r, outdir = sys.argv[1:8]
    msgs = list(udp_payloads(pcap))
    pick = {}
    for m in msgs:
        exch, flags, msg_id = m[18], m[19], struct.unpack(">I", m[20:24])[0]
        role = "response" if flags & 0x20 else "request"
        if exch == 34:
            pick[f"ike_sa_init_{role}"] = m  # the last one: after any COOKIE/INVALID_KE round
        elif exch == 35 and msg_id == 1 and f"ike_auth_{role}" not in pick:
            pick[f"ike_auth_{role}"] = m
    need = ["ike_sa_init_request", "ike_sa_init_response", "ike_auth_request",
            "ike_auth_response"]
    missing = [n for n in need if n not in pick]
    if missing:
        sys.exit(f"capture lacks {missing}")
    os.makedirs(outdir, exist_ok=True)
    for name in need:
        with open(os.path.join(outdir, name + ".hex"), "w") as f:
            h = pick[name].hex()
            f.write("\n".join(h[i:i + 64] for i in range(0, len(h), 64)) + "\n")

    keys = []
    req, resp = pick["ike_sa_init_request"], pick["ike_sa_init_response"]
    keys.append(("spi_i", req[0:8]))
    keys.append(("spi_r", resp[8:16]))
    for tag, m in (("i", req), ("r", resp)):
        for t, body in payloads(m):
            if t == 40:
                keys.append((f"nonce_{tag}", body))
            if t == 34:
                keys.append((f"ke_{tag}", body[4:]))
    values = log_values(log)
    names = {"shared Diffie Hellman secret": "shared", "SKEYSEED": "skeyseed",
             "Sk_d secret": "sk_d", "Sk_ai secret": "sk_ai", "Sk_ar secret": "sk_ar",
             "Sk_ei secret": "sk_ei", "Sk_er secret": "sk_er", "Sk_pi secret": "sk_pi",
             "Sk_pr secret": "sk_pr"}
    seen = set()
    auths = [v for n, v in values if n.startswith("AUTH = prf(prf(secret, keypad), octets)")]
    for n, v in values:
        if n in names and names[n] not in seen:
            keys.append((names[n], v))
            seen.add(names[n])
    # The initiator's charon computes its own AUTH first, then the responder's to verify it.
    keys.append(("auth_i", auths[0]))
    keys.append(("auth_r", auths[1]))
    keys.append(("psk", psk.encode()))
    encr, bits, prf, integ, dh = SUITES[proposal]
    with open(os.path.join(outdir, "keys.txt"), "w") as f:
        f.write(f"# strongSwan charon, proposal {proposal}, IDi {id_i}, IDr {id_r}\n")
        f.write(f"# suite as IANA IDs: encr key_bits prf integ dh\n")
        f.write(f"suite = {encr:04x}{bits:04x}{prf:04x}{integ:04x}{dh:04x}\n")
        for name, value in keys:
            f.write(f"{name} = {value.hex()}\n")


if __name__ == "__main__":
    main()
