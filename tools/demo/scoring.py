"""Scoring of predicted captions against the world's true captions.

Metrics (all fractions in [0, 1]):
- ``exact``: the predicted caption equals the true caption character for character.
- ``groups``: the prediction has the right number of groups.
- ``count`` / ``colour`` / ``shape``: over all true groups, the fraction whose field matches the
  predicted group at the same position (groups are ordered left to right, so position i of the
  prediction is compared with position i of the truth; a missing or unparsable group is wrong).
"""
from __future__ import annotations

from world import parse_caption


def score(pairs) -> dict:
    """``pairs``: iterable of (true caption, predicted caption). Returns the metrics dict."""
    n = exact = groups_ok = 0
    total_groups = 0
    hits = {"count": 0, "colour": 0, "shape": 0}
    for truth, pred in pairs:
        n += 1
        exact += int(truth == pred)
        t = parse_caption(truth)
        if t is None:
            raise ValueError(f"true caption is not a world caption: {truth!r}")
        p = parse_caption(pred) or []
        groups_ok += int(len(t) == len(p))
        total_groups += len(t)
        for i, (tc, tcol, tsh) in enumerate(t):
            if i < len(p):
                hits["count"] += int(p[i][0] == tc)
                hits["colour"] += int(p[i][1] == tcol)
                hits["shape"] += int(p[i][2] == tsh)
    if n == 0:
        return {"n": 0, "exact": 0.0, "groups": 0.0, "count": 0.0, "colour": 0.0, "shape": 0.0}
    out = {"n": n, "exact": exact / n, "groups": groups_ok / n}
    for k, v in hits.items():
        out[k] = v / max(total_groups, 1)
    return out


def format_scores(name: str, s: dict) -> str:
    return (f"{name}: n={s['n']} exact={100 * s['exact']:.1f}% groups={100 * s['groups']:.1f}% "
            f"count={100 * s['count']:.1f}% colour={100 * s['colour']:.1f}% shape={100 * s['shape']:.1f}%")
