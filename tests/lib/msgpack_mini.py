"""A minimal msgpack encoder and decoder (the subset our envelopes use), standard library only.

Encodes None, bool, int (-2**63 .. 2**64-1), float, str, bytes, list/tuple and dict.
Decodes every msgpack type except ext/timestamps; a str that is not valid UTF-8 decodes
to bytes (binary std::string fields, e.g. directory keys); raises ValueError on truncated
or malformed input. Used by the integration tests to speak the bus envelopes of
lib/chat/proto/ops.hpp without a msgpack package.
"""

import struct


def packb(obj):
    out = bytearray()
    _pack(obj, out)
    return bytes(out)


def _pack(o, out):
    if o is None:
        out.append(0xC0)
    elif o is True:
        out.append(0xC3)
    elif o is False:
        out.append(0xC2)
    elif isinstance(o, int):
        if 0 <= o < 0x80:
            out.append(o)
        elif -32 <= o < 0:
            out.append(o & 0xFF)
        elif 0 <= o <= 0xFF:
            out += b"\xcc" + struct.pack(">B", o)
        elif 0 <= o <= 0xFFFF:
            out += b"\xcd" + struct.pack(">H", o)
        elif 0 <= o <= 0xFFFFFFFF:
            out += b"\xce" + struct.pack(">I", o)
        elif 0 <= o <= 0xFFFFFFFFFFFFFFFF:
            out += b"\xcf" + struct.pack(">Q", o)
        elif -0x80 <= o:
            out += b"\xd0" + struct.pack(">b", o)
        elif -0x8000 <= o:
            out += b"\xd1" + struct.pack(">h", o)
        elif -0x80000000 <= o:
            out += b"\xd2" + struct.pack(">i", o)
        elif -0x8000000000000000 <= o:
            out += b"\xd3" + struct.pack(">q", o)
        else:
            raise ValueError("integer out of range: %d" % o)
    elif isinstance(o, float):
        out += b"\xcb" + struct.pack(">d", o)
    elif isinstance(o, str):
        b = o.encode("utf-8")
        n = len(b)
        if n < 32:
            out.append(0xA0 | n)
        elif n <= 0xFF:
            out += b"\xd9" + struct.pack(">B", n)
        elif n <= 0xFFFF:
            out += b"\xda" + struct.pack(">H", n)
        else:
            out += b"\xdb" + struct.pack(">I", n)
        out += b
    elif isinstance(o, (bytes, bytearray)):
        n = len(o)
        if n <= 0xFF:
            out += b"\xc4" + struct.pack(">B", n)
        elif n <= 0xFFFF:
            out += b"\xc5" + struct.pack(">H", n)
        else:
            out += b"\xc6" + struct.pack(">I", n)
        out += o
    elif isinstance(o, (list, tuple)):
        n = len(o)
        if n < 16:
            out.append(0x90 | n)
        elif n <= 0xFFFF:
            out += b"\xdc" + struct.pack(">H", n)
        else:
            out += b"\xdd" + struct.pack(">I", n)
        for item in o:
            _pack(item, out)
    elif isinstance(o, dict):
        n = len(o)
        if n < 16:
            out.append(0x80 | n)
        elif n <= 0xFFFF:
            out += b"\xde" + struct.pack(">H", n)
        else:
            out += b"\xdf" + struct.pack(">I", n)
        for k, v in o.items():
            _pack(k, out)
            _pack(v, out)
    else:
        raise TypeError("cannot pack %r" % type(o))


def unpackb(data):
    """Decodes exactly one object; ValueError when data is truncated or has extra bytes."""
    obj, pos = _unpack(bytes(data), 0)
    if pos != len(data):
        raise ValueError("%d extra bytes after the object" % (len(data) - pos))
    return obj


def _take(data, pos, n):
    if pos + n > len(data):
        raise ValueError("truncated msgpack at byte %d" % pos)
    return data[pos : pos + n], pos + n


_FIXED = {
    0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q",
    0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q",
    0xCA: ">f", 0xCB: ">d",
}


def _unpack(data, pos):
    b, pos = _take(data, pos, 1)
    t = b[0]
    if t < 0x80:
        return t, pos
    if t >= 0xE0:
        return t - 0x100, pos
    if 0x80 <= t <= 0x8F:
        return _map(data, pos, t & 0x0F)
    if 0x90 <= t <= 0x9F:
        return _array(data, pos, t & 0x0F)
    if 0xA0 <= t <= 0xBF:
        return _str(data, pos, t & 0x1F)
    if t == 0xC0:
        return None, pos
    if t == 0xC2:
        return False, pos
    if t == 0xC3:
        return True, pos
    if t in _FIXED:
        fmt = _FIXED[t]
        raw, pos = _take(data, pos, struct.calcsize(fmt))
        return struct.unpack(fmt, raw)[0], pos
    lengths = {0xC4: ">B", 0xC5: ">H", 0xC6: ">I", 0xD9: ">B", 0xDA: ">H", 0xDB: ">I",
               0xDC: ">H", 0xDD: ">I", 0xDE: ">H", 0xDF: ">I"}
    if t in lengths:
        fmt = lengths[t]
        raw, pos = _take(data, pos, struct.calcsize(fmt))
        n = struct.unpack(fmt, raw)[0]
        if t in (0xC4, 0xC5, 0xC6):
            raw, pos = _take(data, pos, n)
            return bytes(raw), pos
        if t in (0xD9, 0xDA, 0xDB):
            return _str(data, pos, n)
        if t in (0xDC, 0xDD):
            return _array(data, pos, n)
        return _map(data, pos, n)
    raise ValueError("unsupported msgpack type 0x%02x" % t)


def _str(data, pos, n):
    """A msgpack str as a Python str when it is UTF-8, else as bytes: msgpack-c packs any
    std::string as str, and some of ours hold binary (stored's directory keys are
    big-endian ids)."""
    raw, pos = _take(data, pos, n)
    try:
        return raw.decode("utf-8"), pos
    except UnicodeDecodeError:
        return bytes(raw), pos


def _array(data, pos, n):
    items = []
    for _ in range(n):
        item, pos = _unpack(data, pos)
        items.append(item)
    return items, pos


def _map(data, pos, n):
    d = {}
    for _ in range(n):
        k, pos = _unpack(data, pos)
        v, pos = _unpack(data, pos)
        d[k] = v
    return d, pos
