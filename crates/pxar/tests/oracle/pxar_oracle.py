#!/usr/bin/env python3
"""An independent pxar reader, written from shared/specs/pbs.md section 7 only, for the tests.

Usage: pxar_oracle.py ARCHIVE [PAYLOAD]
Prints one JSON object per entry (front to back): path, kind, mode, uid, gid, mtime, size and
sha256 of files, link targets, device numbers, xattrs (hex), ACL and fcaps items.
"""
import hashlib
import json
import struct
import sys

T = {
    0x730F6C75DF16A40D: "VERSION", 0xE309D79D9F7B771B: "PRELUDE", 0xD5956474E588ACEF: "ENTRY",
    0x16701121063917B3: "FILENAME", 0x27F971E7DBF5DC5F: "SYMLINK", 0x51269C8422BD7275: "HARDLINK",
    0x9FC9E906586D5CE9: "DEVICE", 0x0DAB0229B57DCD03: "XATTR", 0x2CE8540A457D55B8: "ACL_USER",
    0xC89357B40532CD1F: "ACL_DEFAULT_USER", 0x136E3ECEB04C03AB: "ACL_GROUP",
    0xF90A8A5816038FFE: "ACL_DEFAULT_GROUP", 0x10868031E9582876: "ACL_GROUP_OBJ",
    0xBBBB13415A6896F5: "ACL_DEFAULT", 0x2DA9DD9DB5F7FB67: "FCAPS", 0xE07540E82F7D1CBB: "QUOTA_PROJID",
    0x28147A1B0B7C1A25: "PAYLOAD", 0x419D3D6BC4BA977E: "PAYLOAD_REF", 0x2FEC4FA642D5731D: "GOODBYE",
}
KINDS = {0o040000: "dir", 0o100000: "file", 0o120000: "symlink", 0o060000: "blockdev",
         0o020000: "chardev", 0o010000: "fifo", 0o140000: "socket"}


def main():
    data = open(sys.argv[1], "rb").read()
    payload = open(sys.argv[2], "rb").read() if len(sys.argv) > 2 else None
    pos = 0

    def item(at):
        ty, size = struct.unpack_from("<QQ", data, at)
        assert 16 <= size <= len(data) - at, f"bad size at {at}"
        return T.get(ty, hex(ty)), data[at + 16:at + size], at + size

    ty, body, nxt = item(0)
    if ty == "VERSION":
        assert struct.unpack("<Q", body)[0] == 2
        pos = nxt
        ty, body, nxt = item(pos)
        if ty == "PRELUDE":
            pos = nxt

    def entry(at, path):
        """Parses the entry at `at` (after FILENAME); returns the offset after it."""
        ty, body, at = item(at)
        if ty == "HARDLINK":
            print(json.dumps({"path": path.decode("utf-8", "replace"), "raw": path.hex(),
                              "kind": "hardlink", "target": body[8:-1].decode("utf-8", "replace")}))
            return at
        assert ty == "ENTRY", (ty, at)
        mode, _flags, uid, gid, secs, nanos, _pad = struct.unpack("<QQIIqII", body)
        out = {"path": path.decode("utf-8", "replace"), "raw": path.hex(), "kind": KINDS[mode & 0o170000], "mode": mode & 0o7777, "uid": uid,
               "gid": gid, "mtime": [secs, nanos], "xattrs": {}}
        while at < len(data):
            ty, body, nxt = item(at)
            if ty == "XATTR":
                name, value = body.split(b"\0", 1)
                out["xattrs"][name.hex()] = value.hex()
            elif ty in ("ACL_USER", "ACL_GROUP", "ACL_DEFAULT_USER", "ACL_DEFAULT_GROUP",
                        "ACL_GROUP_OBJ", "ACL_DEFAULT", "QUOTA_PROJID"):
                out.setdefault(ty.lower(), []).append(list(struct.unpack(f"<{len(body) // 8}Q", body)))
            elif ty == "FCAPS":
                out["fcaps"] = body.hex()
            else:
                break
            at = nxt
        kind = out["kind"]
        if kind == "file":
            ty, body, nxt = item(at)
            if ty == "PAYLOAD":
                content = body
            else:
                assert ty == "PAYLOAD_REF", ty
                off, size = struct.unpack("<QQ", body)
                pty, psize = struct.unpack_from("<QQ", payload, off)
                assert T.get(pty) == "PAYLOAD" and psize == 16 + size, f"bad ref {off}"
                content = payload[off + 16:off + 16 + size]
            out["size"] = len(content)
            out["sha256"] = hashlib.sha256(content).hexdigest()
            at = nxt
        elif kind == "symlink":
            ty, body, at = item(at)
            assert ty == "SYMLINK"
            out["target"] = body[:-1].decode("utf-8", "replace")
        elif kind in ("blockdev", "chardev"):
            ty, body, at = item(at)
            assert ty == "DEVICE"
            out["device"] = list(struct.unpack("<QQ", body))
        print(json.dumps(out, sort_keys=True))
        if kind == "dir":
            while True:
                ty, body, nxt = item(at)
                if ty == "GOODBYE":
                    return nxt
                assert ty == "FILENAME", (ty, at)
                name = body[:-1]
                at = entry(nxt, path + b"/" + name if path else name)
        return at

    end = entry(pos, b"")
    assert end == len(data), f"{len(data) - end} trailing bytes"


main()
