#!/usr/bin/env python3
"""The demo world: simple coloured shapes on a plain background, captioned in Chinese.

A scene holds one to three shapes (圆形 circle, 正方形 square, 三角形 triangle, 星形 star) in eight
colours on a white, black, grey or light-coloured background (optionally with mild noise or a
gradient). Its caption lists groups -- all shapes of the same colour AND kind -- as
count + colour + 的 + shape, joined by 和, ordered left to right by each group's leftmost shape
(by shape centre), e.g. ``两个蓝色的三角形和一个黄色的星形``.

Guarantees that keep the caption well defined:
- every shape lies inside the image's central square (CLIP preprocessing keeps only that);
- a shape always contrasts with the background colour (no black-on-black, white-on-white);
- shapes of the same colour never touch (two touching red shapes would read as one blob);
  shapes of different colours may overlap slightly but are never largely hidden;
- the leftmost centres of different groups are at least 6% of the square's side apart, so
  the left-to-right order is never ambiguous.

Everything is deterministic per (seed, index): ``make_sample(seed, i)`` always returns the same
image, caption and file format.

CLI: ``python3 tools/demo/world.py --out DIR --n N --seed S`` writes N images (mixed PNG/JPEG at
various JPEG qualities, varied sizes and aspect ratios) and ``DIR/captions.tsv`` (file<TAB>caption).
"""
from __future__ import annotations

import argparse
import io
import math
import os
import sys
from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image, ImageDraw

# (caption word, identifier) for each shape kind.
SHAPES = ["圆形", "正方形", "三角形", "星形"]
SHAPE_IDS = ["circle", "square", "triangle", "star"]

# Nominal RGB of each colour word; every drawn shape jitters around it by a few levels.
COLOURS = {
    "红色": (215, 30, 35),
    "绿色": (35, 160, 55),
    "蓝色": (35, 75, 215),
    "黄色": (242, 212, 25),
    "紫色": (140, 55, 180),
    "橙色": (245, 135, 20),
    "黑色": (18, 18, 18),
    "白色": (250, 250, 250),
}
COLOUR_NAMES = list(COLOURS)
COUNT_WORDS = {1: "一个", 2: "两个", 3: "三个"}
WORD_COUNTS = {v: k for k, v in COUNT_WORDS.items()}

# Size of a shape: diameter of its circumscribed circle as a fraction of the shorter image side.
MIN_SIZE, MAX_SIZE = 0.13, 0.38
# Per-kind scale of the circumscribed circle so that kinds look about equally big.
KIND_SCALE = {"circle": 0.9, "square": 1.0, "triangle": 1.08, "star": 1.1}
MIN_CONTRAST = 110.0  # Euclidean RGB distance between a shape colour and its background
ORDER_GAP = 0.06  # minimum gap (fraction of the square side) between group positions


@dataclass
class PlacedShape:
    """One shape: kind, colour word, centre (pixels), circumradius (pixels), rotation (radians)."""

    kind: str
    colour: str
    cx: float
    cy: float
    radius: float
    angle: float
    rgb: tuple = (0, 0, 0)


@dataclass
class Scene:
    """A full scene: image size, background description and the shapes in drawing order."""

    width: int
    height: int
    background: dict
    shapes: list = field(default_factory=list)


def caption_groups(shapes) -> list:
    """Groups (count, colour word, shape word) ordered left to right by each group's leftmost centre."""
    groups: dict = {}
    for s in shapes:
        key = (s.colour, s.kind)
        n, x = groups.get(key, (0, math.inf))
        groups[key] = (n + 1, min(x, s.cx))
    ordered = sorted(groups.items(), key=lambda kv: kv[1][1])
    return [(n, colour, SHAPES[SHAPE_IDS.index(kind)]) for (colour, kind), (n, _) in ordered]


def caption_of(scene: Scene) -> str:
    """The Chinese caption of a scene."""
    return "和".join(f"{COUNT_WORDS[n]}{c}的{s}" for n, c, s in caption_groups(scene.shapes))


def parse_caption(text: str):
    """Split a caption into its (count word, colour word, shape word) groups; None if malformed."""
    groups = []
    for part in text.split("和"):
        count, rest = part[:2], part[2:]
        colour, rest = rest[:2], rest[2:]
        if count not in WORD_COUNTS or colour not in COLOURS or not rest.startswith("的"):
            return None
        shape = rest[1:]
        if shape not in SHAPES:
            return None
        groups.append((count, colour, shape))
    return groups


def _rgb_distance(a, b) -> float:
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)))


def _random_background(rng: np.random.Generator) -> dict:
    kind = rng.choice(["white", "black", "grey", "light"], p=[0.3, 0.2, 0.2, 0.3])
    if kind == "white":
        base = [int(rng.integers(238, 256))] * 3
    elif kind == "black":
        base = [int(rng.integers(0, 22))] * 3
    elif kind == "grey":
        base = [int(rng.integers(95, 165))] * 3
    else:  # a light, pastel colour
        base = [int(v) for v in rng.integers(185, 248, size=3)]
        base[int(rng.integers(0, 3))] = int(rng.integers(225, 256))
    effect = rng.choice(["plain", "noise", "gradient"], p=[0.45, 0.3, 0.25])
    bg = {"kind": str(kind), "rgb": tuple(base), "effect": str(effect)}
    if effect == "noise":
        bg["sigma"] = float(rng.uniform(2.0, 9.0))
        bg["noise_seed"] = int(rng.integers(0, 2**31))
    elif effect == "gradient":
        delta = rng.integers(-35, 36, size=3)
        bg["rgb2"] = tuple(int(v) for v in np.clip(np.asarray(base) + delta, 0, 255))
        bg["direction"] = float(rng.uniform(0, 2 * math.pi))
    return bg


def _background_colours(bg: dict) -> list:
    return [bg["rgb"]] + ([bg["rgb2"]] if "rgb2" in bg else [])


def _pick_class(rng, placed, bg):
    """A (colour, kind) pair contrasting with the background; often repeats an earlier one so
    that counts of two and three are common."""
    if placed and rng.random() < 0.45:
        prev = placed[int(rng.integers(0, len(placed)))]
        return prev.colour, prev.kind
    while True:
        colour = COLOUR_NAMES[int(rng.integers(0, len(COLOUR_NAMES)))]
        if all(_rgb_distance(COLOURS[colour], c) >= MIN_CONTRAST for c in _background_colours(bg)):
            return colour, SHAPE_IDS[int(rng.integers(0, len(SHAPE_IDS)))]


def _fits(new: PlacedShape, placed) -> bool:
    for s in placed:
        d = math.hypot(new.cx - s.cx, new.cy - s.cy)
        # Same colour: must not touch. Different colour: slight overlap only.
        factor = 1.08 if s.colour == new.colour else 0.82
        if d < factor * (new.radius + s.radius):
            return False
    return True


def _order_unambiguous(shapes, side: float) -> bool:
    xs = []
    seen = {}
    for s in shapes:
        key = (s.colour, s.kind)
        seen[key] = min(seen.get(key, math.inf), s.cx)
    xs = sorted(seen.values())
    return all(b - a >= ORDER_GAP * side for a, b in zip(xs, xs[1:]))


def random_scene(rng: np.random.Generator) -> Scene:
    """Draw a random scene (image size, background, 1-3 shapes) from ``rng``."""
    side = int(rng.integers(128, 641))
    if rng.random() < 0.3:
        width = height = side
    else:
        aspect = float(rng.uniform(1.1, 2.2))
        long_side = min(int(round(side * aspect)), 1280)
        width, height = (long_side, side) if rng.random() < 0.6 else (side, long_side)
    bg = _random_background(rng)
    count = int(rng.choice([1, 2, 3], p=[0.28, 0.36, 0.36]))
    x0, y0 = (width - side) / 2.0, (height - side) / 2.0
    for _attempt in range(200):
        placed = []
        for _ in range(count):
            colour, kind = _pick_class(rng, placed, bg)
            for _try in range(60):
                size = float(rng.uniform(MIN_SIZE, MAX_SIZE)) * side
                if count == 3:
                    size *= 0.85  # three big shapes rarely fit in the square
                radius = size * KIND_SCALE[kind] / 2.0
                margin = radius + 0.02 * side
                if 2 * margin >= side:
                    continue
                cx = x0 + float(rng.uniform(margin, side - margin))
                cy = y0 + float(rng.uniform(margin, side - margin))
                jitter = rng.integers(-12, 13, size=3)
                rgb = tuple(int(v) for v in np.clip(np.asarray(COLOURS[colour]) + jitter, 0, 255))
                cand = PlacedShape(kind, colour, cx, cy, radius, float(rng.uniform(0, 2 * math.pi)), rgb)
                if _fits(cand, placed):
                    placed.append(cand)
                    break
            else:
                break
        if len(placed) == count and _order_unambiguous(placed, side):
            return Scene(width, height, bg, placed)
    # Practically unreachable; fall back to one centred shape so the generator never hangs.
    colour, kind = _pick_class(rng, [], bg)
    one = PlacedShape(kind, colour, width / 2, height / 2, 0.2 * side, 0.0, COLOURS[colour])
    return Scene(width, height, bg, [one])


def _polygon(kind: str, cx: float, cy: float, r: float, angle: float):
    if kind == "square":
        pts = [(r, math.pi / 4 + k * math.pi / 2) for k in range(4)]
    elif kind == "triangle":
        pts = [(r, -math.pi / 2 + k * 2 * math.pi / 3) for k in range(3)]
    else:  # five-pointed star
        inner = r * 0.42
        pts = [(r if k % 2 == 0 else inner, -math.pi / 2 + k * math.pi / 5) for k in range(10)]
    return [(cx + rr * math.cos(a + angle), cy + rr * math.sin(a + angle)) for rr, a in pts]


def _shape_alpha(shape: PlacedShape, left: int, top: int, w: int, h: int, ss: int = 4) -> np.ndarray:
    """Anti-aliased coverage mask of a shape over the box (left, top, w, h), supersampled ss x."""
    mask = Image.new("L", (w * ss, h * ss), 0)
    draw = ImageDraw.Draw(mask)
    cx, cy, r = (shape.cx - left) * ss, (shape.cy - top) * ss, shape.radius * ss
    if shape.kind == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    else:
        draw.polygon(_polygon(shape.kind, cx, cy, r, shape.angle), fill=255)
    mask = mask.resize((w, h), Image.BOX)
    return np.asarray(mask, dtype=np.float32)[..., None] / 255.0


def render(scene: Scene) -> Image.Image:
    """Render a scene to an RGB PIL image.

    Works in uint8 over the whole image and in float only inside each shape's bounding box,
    because the training set renders tens of thousands of images on shared cores."""
    w, h, bg = scene.width, scene.height, scene.background
    base = np.asarray(bg["rgb"], dtype=np.float32)
    if bg["effect"] == "gradient":
        other = np.asarray(bg["rgb2"], dtype=np.float32)
        a = math.cos(bg["direction"]) / max(w - 1, 1)
        b = math.sin(bg["direction"]) / max(h - 1, 1)
        d = np.add.outer(np.arange(h, dtype=np.float32) * b, np.arange(w, dtype=np.float32) * a)
        lo, hi = float(d.min()), float(d.max())
        d = (d - lo) * (1.0 / max(hi - lo, 1e-6))
        img = (base + 0.5 + d[..., None] * (other - base)).astype(np.uint8)
    else:
        img = np.empty((h, w, 3), dtype=np.uint8)
        img[:] = np.asarray(bg["rgb"], dtype=np.uint8)
    if bg["effect"] == "noise":
        noise_rng = np.random.default_rng(bg["noise_seed"])
        noise = np.rint(noise_rng.standard_normal((h, w), dtype=np.float32) * bg["sigma"]).astype(np.int16)
        img = np.clip(img.astype(np.int16) + noise[..., None], 0, 255).astype(np.uint8)
    for s in scene.shapes:
        left, top = max(int(s.cx - s.radius) - 2, 0), max(int(s.cy - s.radius) - 2, 0)
        right, bottom = min(int(s.cx + s.radius) + 3, w), min(int(s.cy + s.radius) + 3, h)
        alpha = _shape_alpha(s, left, top, right - left, bottom - top)
        patch = img[top:bottom, left:right].astype(np.float32)
        patch += alpha * (np.asarray(s.rgb, dtype=np.float32) - patch)
        img[top:bottom, left:right] = np.clip(patch + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(img, "RGB")


def patch_classes(seed: int, index: int, grid: int = 7) -> np.ndarray:
    """Training labels of the CLIP crop's grid x grid patches for image ``index`` of set ``seed``:
    0 for background, else 1 + colour index * 4 + shape index of the shape that covers most of
    the patch (at least 1/16 of it). Drawn from the scene geometry (no image is rendered); used
    by train.py's dense auxiliary loss."""
    scene = random_scene(sample_rng(seed, index))
    side = min(scene.width, scene.height)
    x0, y0 = (scene.width - side) / 2.0, (scene.height - side) / 2.0
    cell = 32
    res = grid * cell
    scale = res / side
    labels = Image.new("L", (res, res), 0)
    draw = ImageDraw.Draw(labels)
    for s in scene.shapes:  # drawing order: later shapes cover earlier ones, as in render()
        cls = 1 + COLOUR_NAMES.index(s.colour) * len(SHAPES) + SHAPE_IDS.index(s.kind)
        cx, cy, r = (s.cx - x0) * scale, (s.cy - y0) * scale, s.radius * scale
        if s.kind == "circle":
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=cls)
        else:
            draw.polygon(_polygon(s.kind, cx, cy, r, s.angle), fill=cls)
    cells = np.asarray(labels).reshape(grid, cell, grid, cell).transpose(0, 2, 1, 3).reshape(grid * grid, -1)
    out = np.zeros(grid * grid, dtype=np.int64)
    for p in range(grid * grid):
        fg = cells[p][cells[p] > 0]
        if fg.size >= cells[p].size // 16:
            out[p] = int(np.bincount(fg).argmax())
    return out


def mirrored_caption(seed: int, index: int):
    """Caption of image ``index`` of set ``seed`` flipped left-right, or None when the mirrored
    order would be ambiguous (groups' new leftmost centres closer than ORDER_GAP). Drawn from the
    scene geometry; train.py uses it to flip images horizontally with the right caption."""
    scene = random_scene(sample_rng(seed, index))
    mirrored = [replace(s, cx=scene.width - s.cx) for s in scene.shapes]
    if not _order_unambiguous(mirrored, min(scene.width, scene.height)):
        return None
    return caption_of(replace(scene, shapes=mirrored))


def sample_rng(seed: int, index: int) -> np.random.Generator:
    """The generator for image ``index`` of the set with ``seed`` (independent of the set size)."""
    return np.random.default_rng([int(seed), int(index), 0xC1C9])


def make_sample(seed: int, index: int):
    """(PIL image, caption, file format "png"|"jpeg", JPEG quality or None) for one index."""
    rng = sample_rng(seed, index)
    scene = random_scene(rng)
    if rng.random() < 0.4:
        fmt, quality = "png", None
    else:
        fmt, quality = "jpeg", int(rng.integers(45, 96))
    return render(scene), caption_of(scene), fmt, quality


def encode(image: Image.Image, fmt: str, quality) -> bytes:
    """The file bytes of an image in the given format (what ``--out`` writes to disk)."""
    buf = io.BytesIO()
    if fmt == "png":
        image.save(buf, format="PNG", compress_level=6)
    else:
        image.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def file_name(index: int, fmt: str) -> str:
    return f"img{index:05d}.{'png' if fmt == 'png' else 'jpg'}"


def _write_atomic(path: str, data: bytes) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_set(out: str, n: int, seed: int, start: int = 0) -> list:
    """Write images start..start+n-1 of set ``seed`` into ``out`` plus captions.tsv; returns rows."""
    os.makedirs(out, exist_ok=True)
    rows = []
    for i in range(start, start + n):
        image, caption, fmt, quality = make_sample(seed, i)
        name = file_name(i, fmt)
        _write_atomic(os.path.join(out, name), encode(image, fmt, quality))
        rows.append((name, caption))
    _write_atomic(os.path.join(out, "captions.tsv"),
                  "".join(f"{name}\t{cap}\n" for name, cap in rows).encode("utf-8"))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Generate captioned shape images for the clipcap demo.")
    ap.add_argument("--out", required=True, help="output folder (created if missing)")
    ap.add_argument("--n", type=int, required=True, help="number of images")
    ap.add_argument("--seed", type=int, default=0, help="set seed (image i depends only on seed and i)")
    ap.add_argument("--start", type=int, default=0, help="index of the first image")
    args = ap.parse_args(argv)
    if args.n < 0:
        ap.error("--n must be >= 0")
    rows = write_set(args.out, args.n, args.seed, args.start)
    print(f"wrote {len(rows)} images and captions.tsv to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
