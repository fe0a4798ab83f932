"""A minimal VMA writer for hostile test archives, written from ../shared/specs/vma.md.

The real `vma create` cannot make these (it refuses odd names), so the tests build them here:

    python3 vma_writer.py OUT.vma '{"configs": [[NAME, DATA]], "devices": [[NAME, SIZE]]}'

Every cluster of every device is stored as a zero cluster (mask 0), so the archive is complete
and `verify` accepts it. Names are written exactly as given (UTF-8, NUL-terminated).
"""

import hashlib
import json
import struct
import sys
import uuid as uuidlib

HEADER = 12288
CLUSTER = 65536


def blob_area(configs, devices):
    area = bytearray(b"\0")  # byte 0 is never used (spec 3.2)
    ptrs = []

    def add(data):
        pos = len(area)
        area.extend(struct.pack("<H", len(data)))
        area.extend(data)
        return pos

    for name, data in configs:
        ptrs.append((add(name.encode() + b"\0"), add(data.encode())))
    dev_ptrs = [add(name.encode() + b"\0") for name, _ in devices]
    return bytes(area), ptrs, dev_ptrs


def write(path, spec):
    configs = spec.get("configs", [])
    devices = spec.get("devices", [])
    uid = uuidlib.UUID(spec.get("uuid", "6a1d2f64-3b7e-4c55-9b1e-0d2a7c9e1f01")).bytes
    area, cfg_ptrs, dev_ptrs = blob_area(configs, devices)
    header_size = HEADER + (len(area) + 511) // 512 * 512
    h = bytearray(header_size)
    h[0:4] = b"VMA\0"
    struct.pack_into(">I16sq", h, 4, 1, uid, spec.get("ctime", 1767225600))
    struct.pack_into(">III", h, 48, HEADER, len(area), header_size)
    for i, (name_ptr, data_ptr) in enumerate(cfg_ptrs):
        struct.pack_into(">I", h, 2044 + 4 * i, name_ptr)
        struct.pack_into(">I", h, 3068 + 4 * i, data_ptr)
    for i, ((_, size), ptr) in enumerate(zip(devices, dev_ptrs)):
        struct.pack_into(">I4xQ", h, 4096 + 32 * (i + 1), ptr, size)
    h[HEADER : HEADER + len(area)] = area
    h[32:48] = hashlib.md5(bytes(h)).digest()
    entries = []
    for i, (_, size) in enumerate(devices):
        for cluster in range((size + CLUSTER - 1) // CLUSTER):
            entries.append(((i + 1) << 32) | cluster)  # mask 0: a zero cluster
    out = bytearray(h)
    while True:
        chunk, entries = entries[:58], entries[58:]
        e = bytearray(512)
        e[0:4] = b"VMAE"
        e[8:24] = uid
        for j, v in enumerate(chunk):
            struct.pack_into(">Q", e, 40 + 8 * j, v)
        e[24:40] = hashlib.md5(bytes(e)).digest()
        out += e
        if not entries:
            break
    with open(path, "wb") as f:
        f.write(out)


if __name__ == "__main__":
    write(sys.argv[1], json.loads(sys.argv[2]))
