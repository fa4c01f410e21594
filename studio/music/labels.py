"""The labels mini-melody is conditioned on, derived from an Essen ABC header the same way at training and at run time:
meter (M:), mode (宫商角徵羽, from the key signature and the final note), region (O:) and genre (the first word of R:).

The Essen headers give a key signature (K:) but never a mode, so the mode is a derived label: the key signature's
major tonic is 宫 (gong), its pentatonic set is gong + {0, 2, 4, 7, 9} semitones, and the tune's final note names
the mode (K:G: gong G, set G A B D E; a final D is 徵 zhi). A final outside the set gives no mode (None). A minor or
modal K: value ("Am", "Amin", "Ddor", "EPhr") is read as the key signature it writes: the tonic of the major key
with the same signature is gong (A minor and D dorian -> C). German "H" is B.
"""
from __future__ import annotations

import re


# mode -> pitch class of its final relative to gong
FINALS = {"gong": 0, "shang": 2, "jue": 4, "zhi": 7, "yu": 9}
MODE_OF_INTERVAL = {v: k for k, v in FINALS.items()}

_LETTER = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11, "H": 11}
# semitones from the major tonic of the same signature up to the mode's own tonic
_MODE_OFFSET = {"maj": 0, "ion": 0, "min": 9, "aeo": 9, "dor": 2, "phr": 4, "lyd": 5, "mix": 7, "loc": 11}
_KEY = re.compile(r"^\s*([A-Ha-h])([#b]?)\s*([A-Za-z]*)")


def gong_of(key: str) -> int:
    """Pitch class (0 = C) of gong, the major tonic of the key signature a K: value writes ("G" -> 7, "Bb" -> 10,
    "Am" -> 0, "Ddor" -> 0)."""
    m = _KEY.match(key or "")
    if not m:
        raise ValueError(f"unreadable key {key!r}")
    letter, accidental, mode = m.group(1).upper(), m.group(2), m.group(3).lower()
    tonic = _LETTER[letter] + {"#": 1, "b": -1, "": 0}[accidental]
    offset = 0 if mode == "" else 9 if mode == "m" else _MODE_OFFSET.get(mode[:3])
    if offset is None:
        raise ValueError(f"unknown mode in key {key!r}")
    return (tonic - offset) % 12


def mode_of(key: str, final_midi_pitch: int) -> str | None:
    """The mode ("gong", "shang", "jue", "zhi", "yu") a tune ending on this MIDI pitch has under this key
    signature, or None when the final is outside the signature's pentatonic set."""
    return MODE_OF_INTERVAL.get((final_midi_pitch - gong_of(key)) % 12)


# Spellings in O: that name a known province (typos of the corpus included).
_REGION_ALIASES = {"Jianxi": "Jiangxi", "Heinan": "Hainan", "Neimeng": "Neimenggu", "Nei": "Neimenggu"}


def region_of(origin: str) -> str | None:
    """The province of an O: field: "China, Shaanxi, Zizhou" -> "Shaanxi", "China, Shanxi Zuoquan" -> "Shanxi";
    None when there is none ("China", "Asien, ..." or dots)."""
    parts = [p.strip() for p in (origin or "").split(",")]
    if parts and parts[0] == "China":
        parts = parts[1:]
    if not parts or not parts[0]:
        return None
    word = re.split(r"[\s.;]+", parts[0])[0]
    if not word or not word[0].isalpha() or not word[0].isupper() or word in ("Asien", "China"):
        return None
    return _REGION_ALIASES.get(word, word)


_GENRE_ALIASES = {"Xiaodao": "Xiaodiao"}


def genre_of(r_field: str) -> str | None:
    """The first word of an R: field: "Xiaodiao. Geming lishi minge]" -> "Xiaodiao"; None when empty."""
    m = re.match(r"\s*([A-Za-z']+)", r_field or "")
    if not m:
        return None
    word = m.group(1)
    return _GENRE_ALIASES.get(word, word)


# Display names of every value the model may know; a retrained model's labels json lists those it knows.
NAMES = {
    "mode": {
        "gong": {"zh": "宫", "en": "gong"},
        "shang": {"zh": "商", "en": "shang"},
        "jue": {"zh": "角", "en": "jue"},
        "zhi": {"zh": "徵", "en": "zhi"},
        "yu": {"zh": "羽", "en": "yu"},
    },
    "region": {
        "Anhui": {"zh": "安徽", "en": "Anhui"},
        "Fujian": {"zh": "福建", "en": "Fujian"},
        "Gansu": {"zh": "甘肃", "en": "Gansu"},
        "Guangdong": {"zh": "广东", "en": "Guangdong"},
        "Guangxi": {"zh": "广西", "en": "Guangxi"},
        "Guizhou": {"zh": "贵州", "en": "Guizhou"},
        "Hainan": {"zh": "海南", "en": "Hainan"},
        "Hebei": {"zh": "河北", "en": "Hebei"},
        "Heilongjiang": {"zh": "黑龙江", "en": "Heilongjiang"},
        "Henan": {"zh": "河南", "en": "Henan"},
        "Hubei": {"zh": "湖北", "en": "Hubei"},
        "Hunan": {"zh": "湖南", "en": "Hunan"},
        "Jiangsu": {"zh": "江苏", "en": "Jiangsu"},
        "Jiangxi": {"zh": "江西", "en": "Jiangxi"},
        "Jilin": {"zh": "吉林", "en": "Jilin"},
        "Liaoning": {"zh": "辽宁", "en": "Liaoning"},
        "Neimenggu": {"zh": "内蒙古", "en": "Inner Mongolia"},
        "Dongbei": {"zh": "东北", "en": "Northeast China"},
        "Ningxia": {"zh": "宁夏", "en": "Ningxia"},
        "Qinghai": {"zh": "青海", "en": "Qinghai"},
        "Shaanxi": {"zh": "陕西", "en": "Shaanxi"},
        "Shandong": {"zh": "山东", "en": "Shandong"},
        "Shanxi": {"zh": "山西", "en": "Shanxi"},
        "Sichuan": {"zh": "四川", "en": "Sichuan"},
        "Taiwan": {"zh": "台湾", "en": "Taiwan"},
        "Yunnan": {"zh": "云南", "en": "Yunnan"},
        "Zhejiang": {"zh": "浙江", "en": "Zhejiang"},
    },
    "genre": {
        "Xiaodiao": {"zh": "小调", "en": "xiaodiao (ditty)"},
        "Shange": {"zh": "山歌", "en": "shange (mountain song)"},
        "Haozi": {"zh": "号子", "en": "haozi (work chant)"},
        "Wuge": {"zh": "舞歌", "en": "wuge (dance song)"},
    },
    "meter": {m: {"zh": m, "en": m} for m in ("2/4", "3/4", "4/4", "3/8", "6/8", "5/8", "4/8", "2/2", "7/8", "5/4")},
}
ANY = "any"
ANY_NAMES = {"zh": "不限", "en": "any"}


def canonical(field: str, value: str | None, known: list[str]) -> str | None:
    """A label value as the model knows it: its key ("yu"), its Chinese name ("羽"), its English name in any
    case, or "any" / "不限" / None / "" for any. Returns the key or "any"; None when it is not known."""
    if value is None or str(value).strip() in ("", ANY, ANY_NAMES["zh"]):
        return ANY
    text = str(value).strip()
    for key in known:
        names = NAMES.get(field, {}).get(key, {})
        if text == key or text.lower() == key.lower() or text in (names.get("zh"), names.get("en")):
            return key
    return None
