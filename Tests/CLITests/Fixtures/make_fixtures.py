#!/usr/bin/env python3
"""Writes the CLITests fixtures that are easier to make with Python's zlib than by hand.

zip-bomb.pt: a torch.save-layout zip whose pickle describes one float tensor of 4,194,304
elements, and whose storage entry `archive/data/0` is 16 MiB of zeros DEFLATE-compressed to
~16 KB (a 1000:1 ratio, the shape of a zip bomb). The declared sizes are true; the tests also
build variants that lie about them. Standard library only; deterministic output.
"""
import os
import struct
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))


def pickle_state_dict(numel):
    # PROTO 2, {'w': _rebuild_tensor_v2(('storage', FloatStorage, '0', 'cpu', numel), 0, (numel,), (1,), False, OrderedDict())}
    def s(text):
        b = text.encode()
        return b"X" + struct.pack("<I", len(b)) + b
    def i(v):
        return b"J" + struct.pack("<i", v)
    def g(mod, name):
        return b"c" + mod.encode() + b"\n" + name.encode() + b"\n"
    pid = b"(" + s("storage") + g("torch", "FloatStorage") + s("0") + s("cpu") + i(numel) + b"t"
    hooks = g("collections", "OrderedDict") + b")R"
    tensor = g("torch._utils", "_rebuild_tensor_v2") + b"(" + pid + b"Q" + i(0) + b"(" + i(numel) + b"t" \
        + b"(" + i(1) + b"t" + b"\x89" + hooks + b"tR"
    return b"\x80\x02}(" + s("w") + tensor + b"u."


def write_entry(z, name, data, method):
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = method
    z.writestr(info, data, compresslevel=9 if method == zipfile.ZIP_DEFLATED else None)


def main():
    numel = 4 * 1024 * 1024
    path = os.path.join(HERE, "zip-bomb.pt")
    with zipfile.ZipFile(path, "w") as z:
        write_entry(z, "archive/data.pkl", pickle_state_dict(numel), zipfile.ZIP_STORED)
        write_entry(z, "archive/byteorder", b"little", zipfile.ZIP_STORED)
        write_entry(z, "archive/data/0", b"\0" * (numel * 4), zipfile.ZIP_DEFLATED)
        write_entry(z, "archive/version", b"3\n", zipfile.ZIP_STORED)
    print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
