#!/usr/bin/python3
"""Writes one stream file with virtnbdbackup's own stream writer (Debian's virtnbdbackup package:
the libvirtnbdbackup module's SparseStream and its chunk/block writers), so that the virtnbd crate
is tested against files that the real tool's code wrote, not only against our own writer.

usage: upstream_writer.py OUT IMAGE SPEC.json

SPEC: {"disk": "vda", "size": N, "checkpoint": "...", "parent": "...", "level": "full|inc|diff",
       "compress": false|LEVEL, "max_request": N, "extents": [[offset, length, is_data], ...]}
The data of each data extent is read from the raw IMAGE at its offset, as the NBD server would
hand it out.
"""
import json
import sys
from types import SimpleNamespace

from libvirtnbdbackup.common import common as lib
from libvirtnbdbackup.sparsestream import streamer, types

out, image, spec = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3]))


class Nbd:
    """Reads the image the way the backup reads the NBD export."""

    def __init__(self, path):
        self.f = open(path, "rb")

    def pread(self, length, offset):
        self.f.seek(offset)
        return self.f.read(length)


connection = SimpleNamespace(maxRequestSize=spec["max_request"], nbd=Nbd(image))
args = SimpleNamespace(
    cpt=SimpleNamespace(name=spec["checkpoint"], parent=spec["parent"]),
    compress=spec["compress"],
    level=spec["level"],
)
disk = SimpleNamespace(target=spec["disk"], format="qcow2")
t = types.SparseStreamTypes()
stream = streamer.SparseStream(types)
extents = [SimpleNamespace(offset=o, length=l, data=d) for o, l, d in spec["extents"]]
data_size = sum(e.length for e in extents if e.data)
with open(out, "wb") as w:
    meta = stream.dumpMetadata(args, spec["size"], data_size, disk)
    stream.writeFrame(w, t.META, 0, len(meta))
    w.write(meta)
    w.write(t.TERM)
    trailer = []
    for e in extents:
        if not e.data:
            if args.level not in ("inc", "diff"):
                stream.writeFrame(w, t.ZERO, e.offset, e.length)
            continue
        stream.writeFrame(w, t.DATA, e.offset, e.length)
        if e.length >= connection.maxRequestSize:
            size, pieces = lib.writeChunk(w, e, connection, "stream", args.compress)
            trailer.append({size: pieces} if args.compress else size)
        else:
            size = lib.writeBlock(w, e, connection, "stream", args.compress)
            trailer.append(size)
        w.write(t.TERM)
    stream.writeFrame(w, t.STOP, 0, 0)
    if args.compress:
        stream.writeCompressionTrailer(w, trailer)
