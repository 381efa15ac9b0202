"""Sentences for read speech and sung lines, from word lists and small grammars written
for this project (no corpus text). ``sentence(language, rng)`` draws one."""

from __future__ import annotations

import numpy as np

_ENGLISH = {
    "det": ["the", "a", "every", "one", "that", "this", "my", "our"],
    "adj": ["quiet", "silver", "old", "bright", "narrow", "gentle", "heavy", "distant", "golden", "small",
            "cold", "patient", "restless", "hidden", "green", "tired"],
    "noun": ["river", "window", "teacher", "garden", "letter", "village", "mountain", "sailor", "clock", "bridge",
             "lantern", "forest", "market", "story", "harbour", "kitchen", "doctor", "shadow", "train", "field"],
    "verb": ["carries", "watches", "follows", "remembers", "paints", "crosses", "opens", "keeps", "finds", "leaves",
             "answers", "gathers", "repairs", "greets"],
    "adv": ["slowly", "again", "before dawn", "every morning", "without a word", "in the evening", "at last",
            "once more", "near the wall", "after the rain"],
    "prep": ["across", "beyond", "beneath", "towards", "beside", "through"],
}

_MANDARIN = {
    "subj": ["我们", "他", "她", "老师", "孩子们", "我的朋友", "那个司机", "邻居", "学生们", "妈妈"],
    "time": ["今天", "昨天晚上", "每天早上", "明年", "上个星期", "下午", "周末", "刚才"],
    "place": ["在公园里", "在学校", "在河边", "在市场上", "在火车站", "在家里", "在山上", "在图书馆"],
    "verb": ["看见了", "买了", "写了", "找到了", "喜欢", "准备了", "打开了", "带来了", "讨论了", "种了"],
    "num": ["一些", "很多", "三个", "两本", "几张", "一杯", "五棵", "一封"],
    "obj": ["花", "书", "信", "苹果", "照片", "茶", "树", "新闻", "衣服", "礼物", "问题", "地图"],
    "tail": ["", "", "，大家都很高兴", "，然后回家了", "，天气很好", "，时间过得很快"],
}


def _pick(rng: np.random.Generator, words: list[str]) -> str:
    return words[int(rng.integers(len(words)))]


def english_sentence(rng: np.random.Generator) -> str:
    w = lambda key: _pick(rng, _ENGLISH[key])  # noqa: E731
    forms = [
        lambda: f"{w('det')} {w('adj')} {w('noun')} {w('verb')} {w('det')} {w('noun')} {w('adv')}",
        lambda: f"{w('det')} {w('noun')} {w('verb')} {w('det')} {w('adj')} {w('noun')} {w('prep')} the {w('noun')}",
        lambda: f"{w('adv')}, {w('det')} {w('noun')} {w('verb')} {w('det')} {w('adj')} {w('noun')}",
    ]
    text = forms[int(rng.integers(len(forms)))]()
    return text[0].upper() + text[1:] + "."


def mandarin_sentence(rng: np.random.Generator) -> str:
    w = lambda key: _pick(rng, _MANDARIN[key])  # noqa: E731
    return f"{w('subj')}{w('time')}{w('place')}{w('verb')}{w('num')}{w('obj')}{w('tail')}。"


SENTENCES = {"eng": english_sentence, "man": mandarin_sentence}


def sentence(language: str, rng: np.random.Generator) -> str:
    """One random sentence in ``language`` ('eng' or 'man')."""
    return SENTENCES[language](rng)
