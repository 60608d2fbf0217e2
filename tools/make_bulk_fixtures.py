#!/usr/bin/env python3
"""Writes the small fixtures of the bulk-run tests into Tests/Fixtures/bulk (docs/SCALE.md):
manifests in every format, two WebDataset tar shards, and hostile tars. Images are the
committed synthetic fixtures (Tests/Fixtures/images/synthetic); manifests name them by paths
relative to the manifest's folder. Deterministic (fixed mtimes, sorted members): rerunning
rewrites the same bytes. Needs only Python's standard library."""
import io
import json
import os
import tarfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures")
OUT = os.path.join(ROOT, "bulk")
IMAGES = ["rgb.png", "rgb_q90_420.jpg", "gray.jpg", "wide_303x224.jpg", "tall_100x333.png", "progressive.jpg"]
REL = "../images/synthetic/"


def image_bytes(name):
    with open(os.path.join(ROOT, "images", "synthetic", name), "rb") as f:
        return f.read()


def member(tar, name, data, kind=tarfile.REGTYPE, linkname=""):
    info = tarfile.TarInfo(name)
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.mtime = 1_700_000_000
    info.type = kind
    info.linkname = linkname
    info.uname = info.gname = "clipcap"
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def write_tar(path, members):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for m in members:
            member(tar, *m)
    data = buffer.getvalue()
    with open(path, "wb") as f:
        f.write(data)
    return data


def main():
    os.makedirs(os.path.join(OUT, "webdataset"), exist_ok=True)
    os.makedirs(os.path.join(OUT, "hostile"), exist_ok=True)

    # Manifests: the same six images, keys img-0..img-5, in every format.
    with open(os.path.join(OUT, "manifest.txt"), "w") as f:
        f.write("".join(REL + name + "\n" for name in IMAGES))
    with open(os.path.join(OUT, "manifest.tsv"), "w") as f:
        f.write("key\tpath\twidth\n" + "".join(f"img-{i}\t{REL}{name}\t0\n" for i, name in enumerate(IMAGES)))
    with open(os.path.join(OUT, "manifest.csv"), "w") as f:
        # A quoted key with a comma and a doubled quote, and a quoted path, as spreadsheets write them.
        rows = ["caption_hint,filepath,key"]
        for i, name in enumerate(IMAGES):
            key = f'"img-{i}, ""quoted"""' if i == 2 else f"img-{i}"
            rows.append(f'"a hint, with a comma",\"{REL}{name}\",{key}')
        f.write("\r\n".join(rows) + "\r\n")
    with open(os.path.join(OUT, "manifest.jsonl"), "w") as f:
        for i, name in enumerate(IMAGES):
            f.write(json.dumps({"id": f"img-{i}", "image": REL + name, "extra": [1, 2]}) + "\n")

    # WebDataset shards: samples 000000..000005, each an image plus .txt and .json members.
    for shard in range(2):
        members = []
        for i, name in enumerate(IMAGES):
            key = f"{shard:02d}{i:04d}"
            ext = name.rsplit(".", 1)[1]
            members.append((f"{key}.{ext}", image_bytes(name)))
            members.append((f"{key}.txt", f"caption of {name}".encode()))
            members.append((f"{key}.json", json.dumps({"source": name}).encode()))
        write_tar(os.path.join(OUT, "webdataset", f"shard-{shard:05d}.tar"), members)

    png = image_bytes("rgb.png")
    # Path traversal and absolute names; a good sample between them must still be captioned.
    write_tar(os.path.join(OUT, "hostile", "traversal.tar"), [
        ("../../escaped.jpg", png),
        ("good.png", png),
        ("/tmp/absolute.png", png),
        ("dir/../../up.png", png),
    ])
    # Samples without an image member, and an image name that is a symbolic link.
    write_tar(os.path.join(OUT, "hostile", "no-image.tar"), [
        ("a.txt", b"text only"),
        ("a.json", b"{}"),
        ("b.png", b"", tarfile.SYMTYPE, "/etc/passwd"),
        ("c.png", png),
        ("d.jpg", b"this is not a JPEG"),
    ])
    # A member declaring 10 GB (GNU base-256 size field) in a file of a few kilobytes.
    huge = tarfile.TarInfo("huge.jpg")
    huge.size = 10 * 1024 ** 3
    huge.mtime = 1_700_000_000
    first = tarfile.TarInfo("first.png")
    first.size = len(png)
    first.mtime = 1_700_000_000
    head = first.tobuf(format=tarfile.USTAR_FORMAT) + png + b"\0" * ((512 - len(png) % 512) % 512)
    with open(os.path.join(OUT, "hostile", "huge-member.tar"), "wb") as f:
        f.write(head + huge.tobuf(format=tarfile.GNU_FORMAT) + b"\xff" * 4096)
    # A valid archive cut in the middle of its second member.
    whole = write_tar(os.path.join(OUT, "hostile", "truncated.tar"), [("one.png", png), ("two.png", png), ("three.png", png)])
    with open(os.path.join(OUT, "hostile", "truncated.tar"), "wb") as f:
        f.write(whole[:512 + ((len(png) + 511) // 512) * 512 + 512 + len(png) // 2])
    # Not a tar at all.
    with open(os.path.join(OUT, "hostile", "not-a-tar.tar"), "wb") as f:
        f.write(b"PK\x03\x04 this is a zip header followed by junk " * 20)


if __name__ == "__main__":
    main()
