#!/usr/bin/env python3
"""Reference data for Tests/ImageTests (run from the repository root; needs Pillow, numpy,
torch, torchvision; CI never runs this, it only reads what it writes).

Writes Tests/Fixtures/images/:
  synthetic/*.jpg|png   tiny generated images covering every decoder path (committed)
  bad/*                 truncated / bomb / empty / non-image files (committed)
  tensors/*.f32         two full CLIP input tensors (float32, little-endian, [3,224,224])
  references.json       for every image: PIL-decoded size + sha256 of RGB bytes, sha256 of the
                        uint8 224x224 crop, per-channel float64 sums and a strided sample of the
                        torchvision tensor; for bad files, what Pillow does with them.

Reference pipeline (what the Swift code must reproduce):
  rgb    = ImageOps.exif_transpose(Image.open(p)).convert("RGB")
  crop   = CenterCrop(224)(Resize(224, BICUBIC)(rgb))
  tensor = Normalize(mean, std)(ToTensor()(crop))
Seed photos are read from ../shared/seed/images (never copied into the repository).
"""
import base64
import hashlib
import io
import json
import os
import struct
import sys
import warnings
import zlib

import numpy as np
import PIL
from PIL import Image, ImageOps, features
import torch
import torchvision
from torchvision import transforms as T

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "images")
SEED = os.path.join(os.path.dirname(ROOT), "shared", "seed", "images")
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
SAMPLE_STRIDE = 4999  # prime: ~120 samples walking across channels, rows and columns
FULL_TENSORS = {"dev/256063.jpg", "test/global-card-lego.png"}

resize_crop = T.Compose([T.Resize(224, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(224)])
to_tensor = T.Compose([T.ToTensor(), T.Normalize(MEAN, STD)])


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pil_rgb(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im = ImageOps.exif_transpose(im)
    return im.convert("RGB")


def reference(data: bytes, name: str, keep_pixels: bool, full_tensor: bool):
    rgb = pil_rgb(data)
    raw = rgb.tobytes()
    crop = resize_crop(rgb)
    tensor = to_tensor(crop)
    # sanity: OpenAI's own transform gives the same tensor for an RGB input
    full = T.Compose([T.Resize(224, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(224),
                      T.ToTensor(), T.Normalize(MEAN, STD)])(rgb)
    assert torch.equal(full, tensor), name
    flat = tensor.numpy().reshape(-1)
    entry = {
        "width": rgb.width,
        "height": rgb.height,
        "rgb_sha256": sha(raw),
        "crop_sha256": sha(crop.tobytes()),
        "channel_sums": [float(tensor[c].double().sum()) for c in range(3)],
        "sample_stride": SAMPLE_STRIDE,
        "samples": [float(str(v)) for v in flat[::SAMPLE_STRIDE]],  # shortest float32 text
    }
    if keep_pixels:
        entry["rgb_base64"] = base64.b64encode(raw).decode()
    if full_tensor:
        stem = name.replace("/", "_").rsplit(".", 1)[0] + ".f32"
        os.makedirs(os.path.join(OUT, "tensors"), exist_ok=True)
        with open(os.path.join(OUT, "tensors", stem), "wb") as f:
            f.write(flat.astype("<f4").tobytes())
        entry["tensor_file"] = "tensors/" + stem
    return entry


# ---------------------------------------------------------------- synthetic images

def pattern(w, h, seed):
    """Smooth gradients + a few hard edges + mild noise: exercises resampling overshoot."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 255 * x / max(1, w - 1)
    g = 255 * y / max(1, h - 1)
    b = 128 + 100 * np.sin(x / 3.0) * np.cos(y / 5.0)
    img = np.stack([r, g, b], axis=-1)
    img[(x // 7 + y // 5) % 2 == 0] *= 0.6
    img[h // 3:h // 2, w // 4:w // 2] = (250, 10, 10)
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def adam7_passes(w, h):
    starts = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    for x0, y0, dx, dy in starts:
        yield x0, y0, dx, dy


def raw_png(w, h, depth, ctype, samples, palette=None, trns=None, interlace=False):
    """Hand-written PNG for what Pillow cannot save (16-bit RGB/LA, sub-byte gray, Adam7).
    `samples` is an int array [h, w, channels] of sample values."""
    channels = samples.shape[2]

    def pack_rows(block):
        rows = []
        for row in block:
            vals = row.reshape(-1)
            if depth == 16:
                data = vals.astype(">u2").tobytes()
            elif depth == 8:
                data = vals.astype(np.uint8).tobytes()
            else:
                per = 8 // depth
                padded = list(vals) + [0] * ((-len(vals)) % per)
                data = bytes(
                    sum(int(padded[i + k]) << (8 - depth * (k + 1)) for k in range(per))
                    for i in range(0, len(padded), per))
            rows.append(b"\x00" + data)
        return b"".join(rows)

    if interlace:
        raw = b""
        for x0, y0, dx, dy in adam7_passes(w, h):
            sub = samples[y0::dy, x0::dx]
            if sub.shape[0] and sub.shape[1]:
                raw += pack_rows(sub)
    else:
        raw = pack_rows(samples)
    out = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, int(interlace)))
    if palette is not None:
        out += png_chunk(b"PLTE", bytes(palette))
    if trns is not None:
        out += png_chunk(b"tRNS", bytes(trns))
    out += png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b"")
    assert channels >= 1
    return out


def save(im, fmt, **kw):
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    return b.getvalue()


def synthetic_files():
    files = {}
    base = Image.fromarray(pattern(40, 24, 1))
    files["rgb_q90_420.jpg"] = save(base, "JPEG", quality=90)
    files["rgb_q95_444.jpg"] = save(base, "JPEG", quality=95, subsampling=0)
    files["rgb_q85_422.jpg"] = save(base, "JPEG", quality=85, subsampling=1)
    files["progressive.jpg"] = save(base, "JPEG", quality=88, progressive=True)
    files["gray.jpg"] = save(base.convert("L"), "JPEG", quality=90)
    files["cmyk.jpg"] = save(base.convert("CMYK"), "JPEG", quality=92)
    for o in range(1, 9):
        ex = Image.Exif()
        ex[0x0112] = o
        files[f"exif_orientation_{o}.jpg"] = save(base, "JPEG", quality=90, exif=ex.tobytes())
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           b'<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>')
    files["xmp_orientation_6.jpg"] = save(base, "JPEG", quality=90, xmp=xmp)
    ex = Image.Exif()
    ex[0x0112] = 8
    files["exif_orientation_8.png"] = save(base, "PNG", exif=ex.tobytes())

    # PNG colour types (Pillow-written)
    small = Image.fromarray(pattern(23, 17, 2))
    files["rgb.png"] = save(small, "PNG")
    files["gray.png"] = save(small.convert("L"), "PNG")
    la = small.convert("LA")
    la.putalpha(Image.fromarray((np.arange(23 * 17) % 256).reshape(17, 23).astype(np.uint8)))
    files["gray_alpha.png"] = save(la, "PNG")
    rgba = small.convert("RGBA")
    rgba.putalpha(Image.fromarray(((np.arange(23 * 17) * 7) % 256).reshape(17, 23).astype(np.uint8)))
    files["rgba.png"] = save(rgba, "PNG")
    pal = small.quantize(colors=50)
    files["palette_transparency.png"] = save(pal, "PNG", transparency=3)
    gray16 = (np.arange(23 * 17).reshape(17, 23) * 173 % 65536).astype(np.uint16)
    gray16[0, :5] = [0, 1, 200, 255, 256]  # values Pillow keeps vs clips
    files["gray16.png"] = raw_png(23, 17, 16, 0, gray16.astype(int)[:, :, None])

    # hand-written PNGs (Pillow cannot write these)
    rng = np.random.default_rng(3)
    rgb16 = rng.integers(0, 65536, size=(17, 23, 3))
    files["rgb16.png"] = raw_png(23, 17, 16, 2, rgb16)
    files["rgba16.png"] = raw_png(23, 17, 16, 6, rng.integers(0, 65536, size=(17, 23, 4)))
    files["gray_alpha16.png"] = raw_png(23, 17, 16, 4, rng.integers(0, 65536, size=(17, 23, 2)))
    for depth in (1, 2, 4):
        files[f"gray_{depth}bit.png"] = raw_png(23, 17, depth, 0, rng.integers(0, 1 << depth, size=(17, 23, 1)))
    palette = list(rng.integers(0, 256, size=16 * 3))
    files["palette_4bit.png"] = raw_png(23, 17, 4, 3, rng.integers(0, 16, size=(17, 23, 1)), palette=palette)
    files["palette_out_of_range.png"] = raw_png(
        23, 17, 8, 3, rng.integers(0, 40, size=(17, 23, 1)), palette=palette[:30], trns=[0, 128])
    files["interlaced_rgb.png"] = raw_png(23, 17, 8, 2, pattern(23, 17, 4).astype(int), interlace=True)
    files["interlaced_gray_2bit.png"] = raw_png(23, 17, 2, 0, rng.integers(0, 4, size=(17, 23, 1)), interlace=True)

    # sizes that exercise the resize geometry
    files["down_320x240.jpg"] = save(Image.fromarray(pattern(320, 240, 5)), "JPEG", quality=80)
    files["wide_303x224.jpg"] = save(Image.fromarray(pattern(303, 224, 6)), "JPEG", quality=75)  # no resize, crop 39.5 -> 40
    files["tall_100x333.png"] = save(Image.fromarray(pattern(100, 333, 7)).quantize(64), "PNG")  # upscale, crop 260.5 -> 260
    files["tiny_1x1.png"] = save(Image.new("RGB", (1, 1), (12, 200, 99)), "PNG")
    files["strip_1x50.png"] = save(Image.fromarray(pattern(1, 50, 8)), "PNG")
    return files


def bad_files(synthetic):
    base = synthetic["rgb_q90_420.jpg"]
    prog = synthetic["progressive.jpg"]
    png = synthetic["rgb.png"]
    files = {}
    files["truncated_baseline.jpg"] = base[: len(base) // 2]
    files["truncated_progressive.jpg"] = prog[: len(prog) * 2 // 3]
    files["truncated_header.jpg"] = base[:100]
    files["truncated.png"] = png[: len(png) - 60]
    files["truncated_header.png"] = png[:20]
    files["missing_eoi_baseline.jpg"] = base[:-2]  # Pillow decodes this fine
    files["missing_eoi_progressive.jpg"] = prog[:-2]
    ihdr = lambda w, h: (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                         + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + png_chunk(b"IEND", b""))
    files["bomb_100000x100000.png"] = ihdr(100000, 100000)
    files["zero_width.png"] = ihdr(0, 10)
    sof = base.find(b"\xff\xc0")
    bomb = bytearray(base)
    bomb[sof + 5:sof + 9] = struct.pack(">HH", 65000, 65000)
    files["bomb_65000x65000.jpg"] = bytes(bomb)
    zero = bytearray(base)
    zero[sof + 5:sof + 7] = b"\x00\x00"
    files["zero_height.jpg"] = bytes(zero)
    files["empty.jpg"] = b""
    files["text.jpg"] = b"This is a text file, not a JPEG.\n"
    files["image.gif"] = save(Image.new("P", (4, 4)), "GIF")
    corrupt = bytearray(png)
    corrupt[40:60] = bytes(20)  # inside IDAT: zlib / CRC error
    files["corrupt_idat.png"] = bytes(corrupt)
    return files


def pil_outcome(data):
    try:
        rgb = pil_rgb(data)
        rgb.load()
        return {"pil": "ok", "rgb_sha256": sha(rgb.tobytes()), "width": rgb.width, "height": rgb.height}
    except Exception as e:  # noqa: BLE001 - we record whatever Pillow raises
        return {"pil": "error", "pil_error": f"{type(e).__name__}: {e}"}


def dump(refs, f):
    """One line per image entry: small and still diff-friendly."""
    f.write("{\n")
    keys = list(refs)
    for i, key in enumerate(keys):
        value = refs[key]
        end = ",\n" if i + 1 < len(keys) else "\n"
        if isinstance(value, list) and value and isinstance(value[0], dict):
            f.write(f" {json.dumps(key)}: [\n")
            f.write(",\n".join("  " + json.dumps(v, separators=(",", ":")) for v in value))
            f.write("\n ]" + end)
        else:
            f.write(f" {json.dumps(key)}: {json.dumps(value)}{end}")
    f.write("}\n")


def main():
    warnings.simplefilter("ignore")  # Pillow warns about palette transparency on convert("RGB")
    for sub in ("synthetic", "bad", "tensors"):
        os.makedirs(os.path.join(OUT, sub), exist_ok=True)
    refs = {
        "generator": "tools/make_image_fixtures.py",
        "pillow": PIL.__version__,
        "pillow_libjpeg_turbo": features.version("libjpeg_turbo"),
        "torchvision": torchvision.__version__,
        "mean": MEAN, "std": STD,
        "seed": [], "synthetic": [], "bad": [],
    }
    synthetic = synthetic_files()
    for name, data in sorted(synthetic.items()):
        with open(os.path.join(OUT, "synthetic", name), "wb") as f:
            f.write(data)
        entry = {"file": "synthetic/" + name}
        entry.update(reference(data, name, keep_pixels=len(data) < 20000 and name != "tall_100x333.png", full_tensor=False))
        refs["synthetic"].append(entry)
    for name, data in sorted(bad_files(synthetic).items()):
        with open(os.path.join(OUT, "bad", name), "wb") as f:
            f.write(data)
        entry = {"file": "bad/" + name}
        entry.update(pil_outcome(data))
        refs["bad"].append(entry)
    if os.path.isdir(SEED):
        for split in ("dev", "test"):
            for name in sorted(os.listdir(os.path.join(SEED, split))):
                rel = f"{split}/{name}"
                with open(os.path.join(SEED, rel), "rb") as f:
                    data = f.read()
                entry = {"file": rel, "bytes": len(data)}
                entry.update(reference(data, rel, keep_pixels=False, full_tensor=rel in FULL_TENSORS))
                im = Image.open(io.BytesIO(data))
                entry["format"] = f"{im.format} {im.mode}" + (" progressive" if im.info.get("progressive") else "")
                entry["exif_orientation"] = im.getexif().get(0x0112, 1)
                refs["seed"].append(entry)
    else:
        print(f"warning: {SEED} not found; seed references not written", file=sys.stderr)
    with open(os.path.join(OUT, "references.json"), "w") as f:
        dump(refs, f)
    total = sum(os.path.getsize(os.path.join(d, n)) for d, _, ns in os.walk(OUT) for n in ns)
    print(f"wrote {OUT}: {total} bytes")


if __name__ == "__main__":
    main()
