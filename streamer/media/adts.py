"""AAC in ADTS frames (MPEG-TS, raw .aac) as MP4 wants it: the raw frame, and the AudioSpecificConfig once.

Rule: an ADTS header (ISO/IEC 13818-7, 6.2) is read only when its sync word, layer and lengths are
consistent; anything else is ``None``, and the caller copies nothing it cannot vouch for. The
AudioSpecificConfig (ISO/IEC 14496-3, 1.6.2.1) is the header's object type, sampling frequency
index and channel configuration: what FFmpeg's ``aac_adtstoasc`` filter writes. A frame that holds
more than one raw data block is refused (``None``): MP4 wants one per sample. No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass

SYNC = 0xFFF


@dataclass(frozen=True)
class AdtsHeader:
    object_type: int  # the MPEG-4 audio object type: the header's profile + 1 (2 is AAC LC)
    frequency_index: int
    channels: int  # the channel configuration (0: described in the stream, which MP4 cannot take here)
    header_length: int  # 7, or 9 with a CRC
    frame_length: int  # header included


def parse_adts_header(data: bytes | memoryview) -> AdtsHeader | None:
    """The header at the start of ``data``, or ``None`` if it is not one frame MP4 can carry as it is."""
    if len(data) < 7:
        return None
    b = bytes(data[:7])
    if (b[0] << 4 | b[1] >> 4) != SYNC or b[1] & 0x06:  # sync word; layer is always 0
        return None
    protection_absent = b[1] & 0x01
    profile = b[2] >> 6
    frequency_index = (b[2] >> 2) & 0x0F
    channels = (b[2] & 0x01) << 2 | b[3] >> 6
    frame_length = (b[3] & 0x03) << 11 | b[4] << 3 | b[5] >> 5
    blocks = (b[6] & 0x03) + 1
    header_length = 7 if protection_absent else 9
    if frequency_index > 12 or channels == 0 or blocks != 1 or not header_length < frame_length <= len(data):
        return None
    return AdtsHeader(profile + 1, frequency_index, channels, header_length, frame_length)


def audio_specific_config(header: AdtsHeader) -> bytes:
    """The two-byte AudioSpecificConfig of the stream ``header`` starts (MP4's ``esds``, an init's extradata)."""
    bits = header.object_type << 11 | header.frequency_index << 7 | header.channels << 3
    return bits.to_bytes(2, "big")


def raw_frame(data: bytes | memoryview) -> bytes | None:
    """The raw AAC frame inside the ADTS frame ``data``, or ``None`` if ``data`` is not one such frame."""
    header = parse_adts_header(data)
    if header is None or header.frame_length != len(data):
        return None
    return bytes(data[header.header_length : header.frame_length])
