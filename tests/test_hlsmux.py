"""The muxer's output kept as written (streamer.media.hlsmux._Written): a segment is what follows the init's boxes."""

from __future__ import annotations

import pytest

from streamer.media.hlsmux import _Written
from streamer.media.hlspackets import SegmentError

FTYP = b"\x00\x00\x00\x10ftypiso6\x00\x00\x00\x00"
MOOV = b"\x00\x00\x00\x10moov" + b"\x00" * 8
MOOF = b"\x00\x00\x00\x18moof" + b"\x00" * 16
MDAT = b"\x00\x00\x00\x0cmdat" + b"moof"  # a payload may hold the word


@pytest.mark.parametrize(
    ("writes", "segment"),
    [
        pytest.param([FTYP, MOOV, MOOF + MDAT], MOOF + MDAT, id="init-boxes-in-writes-of-their-own"),
        pytest.param([FTYP, MOOV, MOOF, MDAT, MOOF + MDAT], MOOF + MDAT + MOOF + MDAT, id="several-fragments-kept"),
        pytest.param([FTYP + MOOV + MOOF[:10], MOOF[10:] + MDAT], MOOF + MDAT, id="init-and-fragment-in-one-write"),
        pytest.param([MOOF + MDAT], MOOF + MDAT, id="no-init-boxes"),
    ],
)
def test_a_segment_is_what_follows_the_init(writes: list[bytes], segment: bytes) -> None:
    written = _Written()
    for data in writes:
        assert written.write(data) == len(data)
    assert written.fragments() == segment
    assert written.all() == b"".join(writes)


def test_no_fragment_is_an_error() -> None:
    written = _Written()
    written.write(FTYP + MOOV)
    with pytest.raises(SegmentError, match="no fragment"):
        written.fragments()
