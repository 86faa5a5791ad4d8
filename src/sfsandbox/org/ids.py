"""Salesforce record IDs: 15 case-sensitive characters and a case-safe suffix of 3.

An ID is the object's key prefix (3), a pod identifier (2), and a base-62 serial (10).
The suffix encodes, for each 5-character chunk of the 15, which characters are upper
case, so the 18-character form survives case-insensitive systems such as spreadsheets.
"""

from __future__ import annotations

import random
import re
import threading

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
ID_PATTERN = re.compile(r"^[a-zA-Z0-9]{15}(?:[A-Z0-5]{3})?$")


def case_safe_suffix(id15: str) -> str:
    """The three characters that make a 15-character ID case-insensitively unique."""
    suffix = ""
    for chunk in range(3):
        bits = 0
        for position, char in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix += SUFFIX_ALPHABET[bits]
    return suffix


def to_18(record_id: str) -> str:
    """The 18-character form of a 15- or 18-character ID."""
    if len(record_id) == 18:
        return record_id[:15] + case_safe_suffix(record_id[:15])
    return record_id + case_safe_suffix(record_id)


def is_valid_id(value: str) -> bool:
    """Is ``value`` a well-formed 15- or 18-character ID with a correct suffix?"""
    if not ID_PATTERN.match(value):
        return False
    return len(value) == 15 or value[15:] == case_safe_suffix(value[:15])


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        digits.append(BASE62[digit])
    return "".join(reversed(digits))


def _upper_bits(text: str) -> int:
    return sum(1 << i for i, char in enumerate(text) if "A" <= char <= "Z")


# The last two base-62 digits of an ID's serial, with their bits in the suffix's third
# character (they are characters 13 and 14: positions 3 and 4 of the third chunk).
_PAIR_COUNT = 62 * 62
_PAIRS = [
    (a + b, _upper_bits(a) << 3 | _upper_bits(b) << 4) for a in BASE62 for b in BASE62
]


class IdFactory:
    """Makes IDs from a seeded sequence: the same seed gives the same IDs in order.

    Each key prefix has its own counter, as on the platform, where IDs of one object
    grow over time. The pod characters and the counters' starting points come from the
    seed, so two sandboxes with different seeds do not share IDs.
    """

    def __init__(self, seed: int) -> None:
        rng = random.Random(f"sfsandbox-ids-{seed}")
        self.pod = "".join(rng.choice(BASE62[:36]) for _ in range(2))
        self._start = rng.randrange(62**6, 62**7)
        self._counters: dict[str, int] = {}
        self._lock = threading.Lock()

    def new(self, key_prefix: str) -> str:
        """The next 18-character ID for an object with ``key_prefix``."""
        with self._lock:
            serial = self._counters.get(key_prefix, self._start)
            self._counters[key_prefix] = serial + 1
        return to_18(key_prefix + self.pod + _base62(serial, 10))

    def new_many(self, key_prefix: str, count: int) -> list[str]:
        """The next ``count`` IDs for ``key_prefix``, the same as ``count`` calls of
        ``new`` but fast enough for a million records of a bulk job.

        IDs are made a block of 62 * 62 at a time: within a block only the last two
        base-62 digits change, so the first 13 characters and two of the three suffix
        characters are computed once per block.
        """
        with self._lock:
            first = self._counters.get(key_prefix, self._start)
            self._counters[key_prefix] = first + count
        ids: list[str] = []
        serial, end = first, first + count
        while serial < end:
            block, low = divmod(serial, _PAIR_COUNT)
            stop = min(end, (block + 1) * _PAIR_COUNT) - block * _PAIR_COUNT
            head = key_prefix + self.pod + _base62(block, 8)
            fixed = case_safe_suffix(head[:10] + "00000")[:2]
            bits = _upper_bits(head[10:13])
            ids.extend(
                head + pair + fixed + SUFFIX_ALPHABET[bits | pair_bits]
                for pair, pair_bits in _PAIRS[low:stop]
            )
            serial = block * _PAIR_COUNT + stop
        return ids
