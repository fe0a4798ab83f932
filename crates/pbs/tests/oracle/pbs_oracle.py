#!/usr/bin/env python3
"""An independent reader and writer of PBS datastores, for the `pbs` crate's tests.

Written from shared/specs/pbs.md alone, with Python's hashlib/hmac/zlib, the `cryptography`
package (AES-256-GCM with a 16-byte IV) and the `zstd` command; it shares no code with the crate.

  read STORE INDEX [--key HEX]   decode a .fidx or .didx and print "<sha256> <size>"
  read-blob BLOB [--key HEX]     decode a blob and print "<sha256> <size>"
  read-snapshot STORE DIR [--key HEX]  check a snapshot against its manifest (sizes, checksums,
                                 signature) and print "<sha256> <size> <file>" per archive
  write DIR                      write a datastore and print what it holds as JSON
"""
import hashlib, hmac, json, os, struct, subprocess, sys, zlib

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def magic(label):
    return hashlib.sha256(label.encode()).digest()[:8]


PLAIN = magic("Proxmox Backup uncompressed blob v1.0")
ZSTD = magic("Proxmox Backup zstd compressed blob v1.0")
ENC = magic("Proxmox Backup encrypted blob v1.0")
ENC_ZSTD = magic("Proxmox Backup zstd compressed encrypted blob v1.0")
FIDX = magic("Proxmox Backup fixed sized chunk index v1.0")
DIDX = magic("Proxmox Backup dynamic sized chunk index v1.0")


def zstd(args, data):
    return subprocess.run(["zstd", "-q", *args], input=data, stdout=subprocess.PIPE, check=True).stdout


def id_key(key):
    return hashlib.pbkdf2_hmac("sha256", key, b"_id_key", 10, 32)


def fingerprint(key):
    d = hashlib.sha256(hashlib.sha256(b"Proxmox Backup Encryption Key Fingerprint").digest() + id_key(key)).digest()
    return ":".join("%02x" % b for b in d)


def decode_blob(raw, key=None):
    m, crc = raw[:8], struct.unpack("<I", raw[8:12])[0]
    head = 44 if m in (ENC, ENC_ZSTD) else 12
    if m not in (PLAIN, ZSTD, ENC, ENC_ZSTD):
        raise SystemExit("bad blob magic")
    payload = raw[head:]
    if zlib.crc32(payload) != crc:
        raise SystemExit("bad blob crc")
    if m in (ENC, ENC_ZSTD):
        iv, tag = raw[12:28], raw[28:44]
        payload = AESGCM(key).decrypt(iv, payload + tag, None)
    if m in (ZSTD, ENC_ZSTD):
        payload = zstd(["-dc"], payload)
    return payload


def chunk_digest(data, key):
    return hashlib.sha256(data + (id_key(key) if key else b"")).digest()


def read_index(store, path, key):
    raw = open(path, "rb").read()
    body = raw[4096:]
    if hashlib.sha256(body).digest() != raw[32:64]:
        raise SystemExit("bad index csum")
    if raw[:8] == FIDX:
        size, cs = struct.unpack("<QQ", raw[64:80])
        ranges = [(i * cs, min((i + 1) * cs, size), body[32 * i:32 * i + 32]) for i in range(len(body) // 32)]
    elif raw[:8] == DIDX:
        ranges, prev = [], 0
        for i in range(len(body) // 40):
            end = struct.unpack("<Q", body[40 * i:40 * i + 8])[0]
            ranges.append((prev, end, body[40 * i + 8:40 * i + 40]))
            prev = end
    else:
        raise SystemExit("bad index magic")
    h, total = hashlib.sha256(), 0
    for start, end, d in ranges:
        hx = d.hex()
        data = decode_blob(open(os.path.join(store, ".chunks", hx[:4], hx), "rb").read(), key)
        if len(data) != end - start or chunk_digest(data, key) != d:
            raise SystemExit("bad chunk " + hx)
        h.update(data)
        total += len(data)
    return h.hexdigest(), total


def encode_blob(data, kind, key=None, iv=None):
    payload = data
    if kind in ("zstd", "enc-zstd"):
        payload = zstd(["-1", "-c"], data)
    if kind in ("enc", "enc-zstd"):
        sealed = AESGCM(key).encrypt(iv, payload, None)
        ct, tag = sealed[:-16], sealed[-16:]
        m = ENC if kind == "enc" else ENC_ZSTD
        return m + struct.pack("<I", zlib.crc32(ct)) + iv + tag + ct
    m = ZSTD if kind == "zstd" else PLAIN
    return m + struct.pack("<I", zlib.crc32(payload)) + payload


def put_chunk(store, data, kind, key, seq):
    d = chunk_digest(data, key)
    hx = d.hex()
    os.makedirs(os.path.join(store, ".chunks", hx[:4]), exist_ok=True)
    iv = hashlib.sha256(b"iv%d" % seq).digest()[:16]
    with open(os.path.join(store, ".chunks", hx[:4], hx), "wb") as f:
        f.write(encode_blob(data, kind, key, iv))
    return d


def canonical(v):
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def write(root):
    """A datastore with one plain snapshot (fidx of four chunk kinds... plain and zstd, plus a
    didx) and one encrypted snapshot (enc and enc+zstd chunks), with three key files."""
    key = hashlib.sha256(b"oracle key").digest()
    os.makedirs(os.path.join(root, ".chunks"), exist_ok=True)
    out = {"key": key.hex(), "fingerprint": fingerprint(key), "archives": {}}
    cs = 65536
    # Compressible, incompressible (stored plain), zero and short last chunks.
    image = (b"pverescue oracle " * 4000)[:cs] + hashlib.shake_256(b"noise").digest(cs) + bytes(cs) + b"tail" * 1000
    didx_stream = hashlib.shake_256(b"stream").digest(100000) + b"abc" * 30000
    for snap, ns, crypt in (("2026-01-02T03:04:05Z", "", None), ("2026-01-03T03:04:05Z", "ns/secret/", key)):
        sdir = os.path.join(root, ns + "host/oracle", snap)
        os.makedirs(sdir)
        with open(os.path.join(root, ns + "host/oracle", "owner"), "w") as f:
            f.write("oracle@pbs\n")
        files, seq = [], 0
        digests = []
        for i in range(0, len(image), cs):
            piece = image[i:i + cs]
            kinds = ["enc-zstd", "enc"] if crypt else ["zstd", "plain"]
            comp = len(zstd(["-1", "-c"], piece)) < len(piece)
            digests.append(put_chunk(root, piece, kinds[0] if comp else kinds[1], crypt, seq))
            seq += 1
        body = b"".join(digests)
        hdr = FIDX + b"U" * 16 + struct.pack("<q", 1767322245) + hashlib.sha256(body).digest()
        hdr += struct.pack("<QQ", len(image), cs)
        hdr = hdr.ljust(4096, b"\0")
        open(os.path.join(sdir, "disk.img.fidx"), "wb").write(hdr + body)
        mode = "encrypt" if crypt else "none"
        files.append({"filename": "disk.img.fidx", "crypt-mode": mode, "size": len(image), "csum": hashlib.sha256(body).hexdigest()})
        ents, pos = b"", 0
        for j, cut in enumerate((70000, 150000, len(didx_stream))):
            piece = didx_stream[pos:cut]
            d = put_chunk(root, piece, ("enc-zstd" if crypt else "zstd") if j % 2 else ("enc" if crypt else "plain"), crypt, 100 + j)
            ents += struct.pack("<Q", cut) + d
            pos = cut
        hdr = (DIDX + b"V" * 16 + struct.pack("<q", 1767322245) + hashlib.sha256(ents).digest()).ljust(4096, b"\0")
        open(os.path.join(sdir, "root.pxar.didx"), "wb").write(hdr + ents)
        files.append({"filename": "root.pxar.didx", "crypt-mode": mode, "size": len(didx_stream), "csum": hashlib.sha256(ents).hexdigest()})
        conf = b"name: oracle\nmemory: 512\n"
        blob = encode_blob(conf, "enc-zstd" if crypt else "zstd", crypt, b"c" * 16)
        open(os.path.join(sdir, "host.conf.blob"), "wb").write(blob)
        files.append({"filename": "host.conf.blob", "crypt-mode": mode, "size": len(blob), "csum": hashlib.sha256(blob).hexdigest()})
        manifest = {"backup-type": "host", "backup-id": "oracle", "backup-time": 1767322245 if not crypt else 1767408645, "files": files}
        sig = hmac.new(id_key(crypt), canonical(manifest).encode(), hashlib.sha256).hexdigest() if crypt else None
        manifest["signature"] = sig
        manifest["unprotected"] = {"key-fingerprint": fingerprint(crypt)} if crypt else {}
        open(os.path.join(sdir, "index.json.blob"), "wb").write(encode_blob(json.dumps(manifest, indent=2).encode(), "zstd"))
        out["archives"][ns + "host/oracle/" + snap] = {
            "disk.img.fidx": hashlib.sha256(image).hexdigest(),
            "root.pxar.didx": hashlib.sha256(didx_stream).hexdigest(),
            "host.conf.blob": hashlib.sha256(conf).hexdigest(),
        }
    # Key files: kdf null, scrypt and PBKDF2 (small costs), all wrapping the same key.
    created = "2026-01-01T00:00:00+00:00"
    def wrapped(derived):
        iv = b"k" * 16
        sealed = AESGCM(derived).encrypt(iv, key, None)
        return iv + sealed[-16:] + sealed[:-16]
    import base64
    b64 = lambda b: base64.b64encode(b).decode()
    salt = b"s" * 32
    keyfiles = {
        "plain.json": {"kdf": None, "created": created, "modified": created, "data": b64(key), "fingerprint": fingerprint(key)},
        "scrypt.json": {"kdf": {"Scrypt": {"n": 1024, "r": 8, "p": 1, "salt": b64(salt)}}, "created": created, "modified": created,
                        "data": b64(wrapped(hashlib.scrypt(b"oracle pass", salt=salt, n=1024, r=8, p=1, dklen=32))), "fingerprint": fingerprint(key), "hint": "oracle"},
        "pbkdf2.json": {"kdf": {"PBKDF2": {"iter": 1000, "salt": b64(salt)}}, "created": created, "modified": created,
                        "data": b64(wrapped(hashlib.pbkdf2_hmac("sha256", b"oracle pass", salt, 1000, 32)))},
    }
    for name, kf in keyfiles.items():
        with open(os.path.join(root, "..", name), "w") as f:
            json.dump(kf, f)
    print(json.dumps(out, indent=1))


def read_snapshot(store, sdir, key):
    """Checks a snapshot against its manifest (every file's size and checksum, the signature
    when there is one) and prints "<sha256> <size> <file>" of every decoded archive."""
    manifest = json.loads(decode_blob(open(os.path.join(sdir, "index.json.blob"), "rb").read()))
    if manifest.get("signature") is not None:
        if key is None:
            raise SystemExit("signed manifest: give --key")
        signed = {k: v for k, v in manifest.items() if k not in ("signature", "unprotected")}
        if hmac.new(id_key(key), canonical(signed).encode(), hashlib.sha256).hexdigest() != manifest["signature"]:
            raise SystemExit("bad manifest signature")
    for f in manifest["files"]:
        path = os.path.join(sdir, f["filename"])
        raw = open(path, "rb").read()
        chunk_key = key if f.get("crypt-mode") == "encrypt" else None
        if f["filename"].endswith(".blob"):
            if (len(raw), hashlib.sha256(raw).hexdigest()) != (f["size"], f["csum"]):
                raise SystemExit("manifest mismatch: " + f["filename"])
            data = decode_blob(raw, chunk_key)
            h, n = hashlib.sha256(data).hexdigest(), len(data)
        else:
            if hashlib.sha256(raw[4096:]).hexdigest() != f["csum"]:
                raise SystemExit("manifest mismatch: " + f["filename"])
            h, n = read_index(store, path, chunk_key)
            if n != f["size"]:
                raise SystemExit("manifest size mismatch: " + f["filename"])
        print(h, n, f["filename"])


def main():
    a = sys.argv[1:]
    key = bytes.fromhex(a[a.index("--key") + 1]) if "--key" in a else None
    if a[0] == "read-snapshot":
        return read_snapshot(a[1], a[2], key)
    if a[0] == "read":
        h, n = read_index(a[1], a[2], key)
    elif a[0] == "read-blob":
        data = decode_blob(open(a[1], "rb").read(), key)
        h, n = hashlib.sha256(data).hexdigest(), len(data)
    elif a[0] == "write":
        return write(a[1])
    else:
        raise SystemExit(__doc__)
    print(h, n)


if __name__ == "__main__":
    main()
