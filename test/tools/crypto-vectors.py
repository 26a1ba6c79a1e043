#!/usr/bin/env python3
"""Reference values for lib/crypto's known-answer tests, computed by an independent
implementation (Python's hmac/hashlib and pow(), and the `cryptography` package for ECP), from
the definitions in RFC 7296 §2.13-§2.17 and RFC 3526/5903. Writes test/data/crypto/vectors.txt
(name = hex). The MODP primes are read from `openssl genpkey -genparam` (constants only).

    python3 test/tools/crypto-vectors.py > test/data/crypto/vectors.txt
"""
import hashlib
import hmac
import subprocess

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

H = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha384": hashlib.sha384,
     "sha512": hashlib.sha512}
OUT_LEN = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}


def prf(md, key, data):
    return hmac.new(key, data, H[md]).digest()


def prf_plus(md, key, seed, n):
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = prf(md, key, t + seed + bytes([i]))
        out += t
        i += 1
    return out[:n]


def pattern(n, start):
    return bytes((start + i * 7) & 0xFF for i in range(n))


def emit(name, value):
    print(f"{name} = {value.hex()}")


nonce_i, nonce_r = pattern(32, 1), pattern(32, 0x80)
spi_i, spi_r = bytes.fromhex("0123456789abcdef"), bytes.fromhex("fedcba9876543210")
shared = pattern(256, 0x33)
emit("nonce_i", nonce_i)
emit("nonce_r", nonce_r)
emit("spi_i", spi_i)
emit("spi_r", spi_r)
emit("shared", shared)

# prf+ (RFC 7296 §2.13)
emit("prfplus_sha256", prf_plus("sha256", b"\x0b" * 20, b"ikd prf+ seed", 100))
emit("prfplus_sha1", prf_plus("sha1", b"\x0b" * 20, b"ikd prf+ seed", 50))

# IKE SA keys (§2.14): name, prf, integ key length, encr key length (+ salt)
suites = [("aes128_sha256", "sha256", 32, 16), ("aes256gcm16_prfsha384", "sha384", 0, 36),
          ("aes256_sha512", "sha512", 64, 32), ("aes192_sha1", "sha1", 20, 24)]
for name, md, integ, encr in suites:
    skeyseed = prf(md, nonce_i + nonce_r, shared)
    p = OUT_LEN[md]
    km = prf_plus(md, skeyseed, nonce_i + nonce_r + spi_i + spi_r, 3 * p + 2 * integ + 2 * encr)
    emit(f"{name}_skeyseed", skeyseed)
    off = 0
    for key, n in [("sk_d", p), ("sk_ai", integ), ("sk_ar", integ), ("sk_ei", encr),
                   ("sk_er", encr), ("sk_pi", p), ("sk_pr", p)]:
        if n:
            emit(f"{name}_{key}", km[off:off + n])
        off += n

# IKE SA rekey (§2.18): SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)
old_sk_d = pattern(32, 0x55)
emit("rekey_old_sk_d", old_sk_d)
emit("rekey_skeyseed", prf("sha256", old_sk_d, shared + nonce_i + nonce_r))

# Child SA KEYMAT (§2.17): encr_i | integ_i | encr_r | integ_r
sk_d = pattern(32, 0x21)
emit("child_sk_d", sk_d)
emit("child_gcm256_nopfs", prf_plus("sha256", sk_d, nonce_i + nonce_r, 2 * 36))
emit("child_aes128_sha1_pfs", prf_plus("sha256", sk_d, shared + nonce_i + nonce_r, 2 * (16 + 20)))

# PSK AUTH (§2.15)
psk = b"correct horse battery staple"
msg = pattern(180, 0x10)
sk_p = pattern(32, 0x44)
id_body = bytes([2, 0, 0, 0]) + b"branch-12.example.com"
key = prf("sha256", psk, b"Key Pad for IKEv2")
emit("auth_psk", psk)
emit("auth_msg", msg)
emit("auth_sk_p", sk_p)
emit("auth_id_body", id_body)
emit("auth_sha256", prf("sha256", key, msg + nonce_r + prf("sha256", sk_p, id_body)))

# MODP (RFC 3526): y = 2^x mod p, shared = y_peer^x mod p, padded to the prime length
x, y = int.from_bytes(pattern(32, 0x61), "big"), int.from_bytes(pattern(32, 0x62), "big")
emit("modp_priv_a", pattern(32, 0x61))
emit("modp_priv_b", pattern(32, 0x62))
for group, bits in [("modp_2048", 2048), ("modp_3072", 3072), ("modp_4096", 4096),
                    ("modp_8192", 8192)]:
    pem = subprocess.run(["openssl", "genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt",
                          f"group:{group}"], capture_output=True, check=True).stdout
    p = serialization.load_pem_parameters(pem).parameter_numbers().p
    assert p.bit_length() == bits
    n = bits // 8
    emit(f"{group}_pub_a", pow(2, x, p).to_bytes(n, "big"))
    emit(f"{group}_pub_b", pow(2, y, p).to_bytes(n, "big"))
    emit(f"{group}_shared", pow(pow(2, y, p), x, p).to_bytes(n, "big"))
    emit(f"{group}_p", p.to_bytes(n, "big"))

# ECP 384/521 (RFC 5903 §7 encoding: x | y, shared x), from fixed private keys
for name, curve, n in [("ecp384", ec.SECP384R1(), 48), ("ecp521", ec.SECP521R1(), 66)]:
    da, db = int.from_bytes(pattern(n, 0x71), "big") >> 8, int.from_bytes(pattern(n, 0x72), "big") >> 8
    ka, kb = ec.derive_private_key(da, curve), ec.derive_private_key(db, curve)
    emit(f"{name}_priv_a", da.to_bytes(n, "big"))
    emit(f"{name}_priv_b", db.to_bytes(n, "big"))
    for tag, k in [("a", ka), ("b", kb)]:
        pn = k.public_key().public_numbers()
        emit(f"{name}_pub_{tag}", pn.x.to_bytes(n, "big") + pn.y.to_bytes(n, "big"))
    emit(f"{name}_shared", ka.exchange(ec.ECDH(), kb.public_key()))
