"""Plain data: what learner code may hand back to a check, and how it crosses a process boundary.

Plain data is None, bool, int, float, str, NumPy arrays of numbers or booleans, NumPy scalars, and
tuples, lists and dicts (with str or int keys) of plain data, plus `np.random.Generator`s as arguments.
`to_plain` copies a value into exactly those types (a float subclass becomes a float, a namedtuple a
tuple), so no learner object with methods of its own ever reaches the comparison. `encode`/`decode`
turn plain data into JSON bytes and back, without pickle, with a size cap.
"""

import base64
import json

import numpy as np

MAX_DEPTH = 32
MAX_BYTES = 256 * 2**20


class NotPlain(TypeError):
    """A value that is not plain data; `where` says where in the value it was found."""

    def __init__(self, where, what):
        super().__init__(f"{where} is a {what}; return only NumPy arrays, numbers, strings, None, "
                         "and tuples, lists or dicts of those")
        self.where, self.what = where, what


class TooLarge(ValueError):
    pass


def to_plain(value, where="the result", depth=0):
    """A copy of `value` made of plain types only; raises NotPlain naming where the first other type is."""
    if depth > MAX_DEPTH:
        raise NotPlain(where, "structure nested more than 32 levels deep")
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise NotPlain(where, f"NumPy array of dtype {value.dtype}")
        return np.array(value, copy=True, subok=False)
    if isinstance(value, np.generic):
        if value.dtype.kind not in "biuf":
            raise NotPlain(where, f"NumPy scalar of dtype {value.dtype}")
        return value.dtype.type(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, (tuple, list)):
        items = [to_plain(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if type(key) not in (str, int):
                raise NotPlain(f"a key of {where}", type(key).__name__)
            out[key] = to_plain(item, f"{where}[{key!r}]", depth + 1)
        return out
    if isinstance(value, np.random.Generator):
        return value  # arguments only; encode() sends its state
    module = type(value).__module__
    name = type(value).__qualname__
    raise NotPlain(where, name if module in ("builtins", "__main__") else f"{module}.{name}")


def _enc(value):
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value)
        return {"__nd__": base64.b64encode(data.tobytes()).decode("ascii"), "dtype": data.dtype.str,
                "shape": list(data.shape)}
    if isinstance(value, np.generic):
        return {"__np__": base64.b64encode(np.array(value).tobytes()).decode("ascii"), "dtype": value.dtype.str}
    if isinstance(value, tuple):
        return {"__tuple__": [_enc(v) for v in value]}
    if isinstance(value, list):
        return [_enc(v) for v in value]
    if isinstance(value, dict):
        return {"__dict__": [[k, _enc(v)] for k, v in value.items()]}
    if isinstance(value, np.random.Generator):
        return {"__rng__": value.bit_generator.state}
    raise NotPlain("a value", type(value).__name__)


def _dec(value, depth=0):
    if depth > MAX_DEPTH + 2:
        raise ValueError("plain data nested too deeply")
    if isinstance(value, list):
        return [_dec(v, depth + 1) for v in value]
    if not isinstance(value, dict):
        if value is None or type(value) in (bool, int, float, str):
            return value
        raise ValueError(f"unexpected JSON value of type {type(value).__name__}")
    if "__nd__" in value:
        dtype = np.dtype(value["dtype"])
        if dtype.kind not in "biuf":
            raise ValueError(f"array dtype {dtype} is not plain")
        shape = tuple(int(n) for n in value["shape"])
        return np.frombuffer(base64.b64decode(value["__nd__"]), dtype=dtype).reshape(shape).copy()
    if "__np__" in value:
        dtype = np.dtype(value["dtype"])
        if dtype.kind not in "biuf":
            raise ValueError(f"scalar dtype {dtype} is not plain")
        return np.frombuffer(base64.b64decode(value["__np__"]), dtype=dtype)[0]
    if "__tuple__" in value:
        return tuple(_dec(v, depth + 1) for v in value["__tuple__"])
    if "__dict__" in value:
        out = {}
        for key, item in value["__dict__"]:
            if type(key) not in (str, int):
                raise ValueError("dict keys must be str or int")
            out[key] = _dec(item, depth + 1)
        return out
    if "__rng__" in value:
        generator = np.random.Generator(np.random.PCG64())
        generator.bit_generator.state = value["__rng__"]
        return generator
    raise ValueError("unknown plain-data object")


def encode(value, limit=MAX_BYTES):
    """JSON bytes for plain data; TooLarge past `limit` bytes."""
    text = json.dumps(_enc(value), separators=(",", ":"), allow_nan=True)
    if len(text) > limit:
        raise TooLarge(f"{len(text)} bytes, more than the {limit} allowed")
    return text.encode("utf-8")


def decode(data, limit=MAX_BYTES):
    if len(data) > limit:
        raise TooLarge(f"{len(data)} bytes, more than the {limit} allowed")
    return _dec(json.loads(data))
