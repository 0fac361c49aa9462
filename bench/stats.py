"""Small statistics helpers (no numpy)."""


def pct(values, q):
    """Percentile q (0-100) with linear interpolation; None for no data."""
    v = sorted(x for x in values if x is not None)
    if not v:
        return None
    if len(v) == 1:
        return float(v[0])
    pos = (len(v) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def median(values):
    return pct(values, 50)


def sub(a, b):
    return None if a is None or b is None else a - b


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def rnd(x, nd=1):
    return None if x is None else round(x, nd)
