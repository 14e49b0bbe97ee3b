"""Protocol Buffers wire format, the few pieces the export codec needs.

Hand-written so that a 500k-key export can be walked one key at a time without building a
message tree (``protocol/_proto`` holds the generated code, used for the small messages and,
in the tests, as the oracle this codec must agree with). Encoding follows
https://protobuf.dev/programming-guides/encoding/. Every decoding error is ``WireError``.
"""

from __future__ import annotations

from collections.abc import Iterator

VARINT, FIXED64, LEN, START_GROUP, END_GROUP, FIXED32 = 0, 1, 2, 3, 4, 5

_MASK64 = (1 << 64) - 1


class WireError(ValueError):
    """Malformed protobuf bytes; the message says where."""


# ---- encoding ---------------------------------------------------------------------------


def varint(value: int) -> bytes:
    """Base-128 varint; negative numbers as their 64-bit two's complement (int32/int64)."""
    value &= _MASK64
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def zigzag(value: int) -> int:
    """sint32/sint64 mapping: 0, -1, 1, -2 … → 0, 1, 2, 3 …"""
    return (value << 1) ^ (value >> 63)


def tag(field: int, wire_type: int) -> bytes:
    return varint((field << 3) | wire_type)


def len_field(field: int, payload: bytes) -> bytes:
    return tag(field, LEN) + varint(len(payload)) + payload


def varint_field(field: int, value: int) -> bytes:
    return tag(field, VARINT) + varint(value)


def fixed64_field(field: int, value: int) -> bytes:
    return tag(field, FIXED64) + (value & _MASK64).to_bytes(8, "little")


# ---- decoding ---------------------------------------------------------------------------


def read_varint(buf: bytes | bytearray | memoryview, pos: int, end: int) -> tuple[int, int]:
    """Return ``(value, next_pos)``; a varint is at most 10 bytes and must end before ``end``."""
    result = shift = 0
    while True:
        if pos >= end:
            raise WireError(f"varint runs past the end at byte {pos}")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            if shift >= 63 and result > _MASK64:
                raise WireError(f"varint at byte {pos} overflows 64 bits")
            return result, pos
        shift += 7
        if shift >= 70:
            raise WireError(f"varint at byte {pos} is longer than 10 bytes")


def as_int32(value: int) -> int:
    """Interpret a decoded varint as int32, as protobuf does (truncate, then sign)."""
    value &= 0xFFFF_FFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def as_sint32(value: int) -> int:
    value &= 0xFFFF_FFFF
    return (value >> 1) ^ -(value & 1)


def iter_fields(
    buf: bytes | bytearray | memoryview, pos: int, end: int
) -> Iterator[tuple[int, int, int, int]]:
    """Walk the fields of one message in ``buf[pos:end]``.

    Yields ``(field_number, wire_type, a, b)``: for VARINT and FIXED ``a`` is the value; for LEN
    ``a:b`` is the payload's span in ``buf``. Groups are refused (the export format has none).
    """
    while pos < end:
        key, pos = read_varint(buf, pos, end)
        field, wire_type = key >> 3, key & 7
        if field == 0 or field > 0x1FFF_FFFF:
            raise WireError(f"invalid field number {field} at byte {pos}")
        if wire_type == VARINT:
            value, pos = read_varint(buf, pos, end)
            yield field, wire_type, value, pos
        elif wire_type == LEN:
            length, pos = read_varint(buf, pos, end)
            if length > end - pos:
                raise WireError(f"field {field} claims {length} bytes at byte {pos}, past the end")
            yield field, wire_type, pos, pos + length
            pos += length
        elif wire_type in (FIXED64, FIXED32):
            size = 8 if wire_type == FIXED64 else 4
            if pos + size > end:
                raise WireError(f"fixed field {field} runs past the end at byte {pos}")
            yield field, wire_type, int.from_bytes(buf[pos : pos + size], "little"), pos + size
            pos += size
        else:
            raise WireError(f"unsupported wire type {wire_type} for field {field} at byte {pos}")
