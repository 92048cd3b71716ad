"""Tests of the analysis: exact tokens, positions and offsets on fixed sentences, mixed scripts,
normalisation, the laws the literal matching relies on, and rjieba against jieba."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import analyzer
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from newsearch.analysis import BOUNDARY, Analyzer, TermCounts, Token, current_settings
from newsearch.corpus import read_post


def T(text: str, pos: int, start: int, end: int, sub: bool = False) -> Token:  # noqa: N802
    return Token(text, pos, start, end, sub)


# --------------------------------------------------------------------------------------------------
# Fixed sentences, expected tokens written out


FIXED = {
    "中华人民共和国成立了": [
        T("中华人民共和国", 0, 0, 7),
        T("中华", 0, 0, 2, True),
        T("华人", 0, 1, 3, True),
        T("人民", 0, 2, 4, True),
        T("共和", 0, 4, 6, True),
        T("共和国", 0, 4, 7, True),
        T("成立", 1, 7, 9),
        T("了", 2, 9, 10),
    ],
    "工信部召开提振工业经济电视电话会议": [
        T("工信部", 0, 0, 3),
        T("召开", 1, 3, 5),
        T("提振", 2, 5, 7),
        T("工业", 3, 7, 9),
        T("经济", 4, 9, 11),
        T("电视电话会议", 5, 11, 17),
        T("电视", 5, 11, 13, True),
        T("电话", 5, 13, 15, True),
        T("会议", 5, 15, 17, True),
        T("电话会", 5, 13, 16, True),
    ],
    "我爱北京天安门": [
        T("我", 0, 0, 1),
        T("爱", 1, 1, 2),
        T("北京", 2, 2, 4),
        T("天安门", 3, 4, 7),
        T("天安", 3, 4, 6, True),
    ],
    "5G网络覆盖率达3.5%，2022年APP用户增长": [
        T("5g", 0, 0, 2),
        T("网络", 1, 2, 4),
        T("覆盖率", 2, 4, 7),
        T("覆盖", 2, 4, 6, True),
        T("达", 3, 7, 8),
        T("3.5", 4, 8, 11),
        T("2022", 5, 13, 17),
        T("年", 6, 17, 18),
        T("app", 7, 18, 21),
        T("用户", 8, 21, 23),
        T("增长", 9, 23, 25),
    ],
    "HFO-1234yf制冷剂 running": [
        T("hfo", 0, 0, 3),
        T("1234yf", 1, 4, 10),
        T("制冷剂", 2, 10, 13),
        T("制冷", 2, 10, 12, True),
        T("running", 3, 14, 21),
    ],
    "比亚迪汽车销量增长": [
        T("比亚迪", 0, 0, 3),
        T("比亚", 0, 0, 2, True),
        T("汽车销量", 1, 3, 7),
        T("汽车", 1, 3, 5, True),
        T("销量", 1, 5, 7, True),
        T("增长", 2, 7, 9),
    ],
}


@pytest.mark.parametrize("text", list(FIXED))
def test_fixed_sentences(text: str) -> None:
    a = analyzer()
    tokens = a.tokens(text)
    assert tokens == FIXED[text]
    for tok in tokens:
        assert a.normalize(text[tok.start : tok.end]) == tok.text


@pytest.mark.parametrize("text", list(FIXED))
def test_subwords_off_gives_the_precise_words(text: str) -> None:
    a = analyzer()
    precise = [t for t in FIXED[text] if not t.sub]
    assert a.tokens(text, subwords=False) == precise
    # Positions of precise words are consecutive from 0.
    assert [t.pos for t in precise] == list(range(len(precise)))


def positions(counts: TermCounts) -> dict[str, list[int]]:
    return {w: p.tolist() for w, p in counts.words.items()}


def test_terms_of_a_fixed_sentence() -> None:
    counts = analyzer().terms("中华人民共和国成立了，中华人民共和国万岁")
    assert counts.length == 5
    assert positions(counts) == {"中华人民共和国": [0, 3], "成立": [1], "了": [2], "万岁": [4]}
    # Sub-words count each occurrence of their word.
    assert counts.subs == {"中华": 2, "华人": 2, "人民": 2, "共和": 2, "共和国": 2}
    assert counts.joins == frozenset()


def test_terms_agree_with_tokens() -> None:
    a = analyzer()
    text = "工信部召开提振工业经济电视电话会议，5G网络覆盖率达3.5%。工业经济"
    counts = a.terms(text)
    tokens = a.tokens(text)
    precise = [t for t in tokens if not t.sub]
    assert counts.length == len(precise)
    words: dict[str, list[int]] = {}
    for t in precise:
        words.setdefault(t.text, []).append(t.pos)
    assert positions(counts) == words
    subs: dict[str, int] = {}
    for t in tokens:
        if t.sub:
            subs[t.text] = subs.get(t.text, 0) + 1
    assert counts.subs == subs
    # 工业|经济 holds the dictionary word 业经 across a word boundary: a join.
    assert a.is_word("业经")
    assert "业经" in counts.joins
    assert "业经" not in counts.words and "业经" not in counts.subs


# --------------------------------------------------------------------------------------------------
# Mixed Chinese, English and digits


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("5G网络", ["5g", "网络"]),
        ("3.5%", ["3.5"]),
        ("2022年", ["2022", "年"]),
        ("APP", ["app"]),
        ("HFO-1234yf", ["hfo", "1234yf"]),
        ("running", ["running"]),
        ("runs ran", ["runs", "ran"]),
        ("A", ["a"]),
        ("5", ["5"]),
        ("a 5 b", ["a", "5", "b"]),
        ("第5名", ["第", "5", "名"]),
        ("v2.0版本", ["v2.0", "版本"]),
        ("iPhone13发布", ["iphone13", "发布"]),
        ("GDP增长", ["gdp", "增长"]),
    ],
)
def test_mixed_scripts(text: str, words: list[str]) -> None:
    a = analyzer()
    assert [t.text for t in a.tokens(text, subwords=False)] == words
    assert a.query_words(text) == list(dict.fromkeys(words))


def test_single_letters_and_digits_are_terms() -> None:
    counts = analyzer().terms("A股 5 x")
    assert {"a", "5", "x"} <= set(counts.words)


def test_no_stemming() -> None:
    a = analyzer()
    assert a.query_words("running companies") == ["running", "companies"]


def test_separators_are_not_tokens() -> None:
    a = analyzer()
    assert a.tokens("，。！？“”（）—— …  ,.;:!?()[]{}") == []
    assert a.query_words("") == []


# --------------------------------------------------------------------------------------------------
# Normalisation: full width, case, Traditional Chinese


def test_full_width_gives_the_same_tokens_as_half_width() -> None:
    a = analyzer()
    full = "ＡＰＰ２０２２，５Ｇ"
    half = "APP2022,5G"
    assert len(full) == len(half)
    assert a.tokens(full) == a.tokens(half)
    assert [t.text for t in a.tokens(full)] == ["app2022", "5g"]
    for tok in a.tokens(full):
        # Offsets index the original (full-width) text.
        assert a.normalize(full[tok.start : tok.end]) == tok.text
    assert a.tokens(full)[1] == T("5g", 1, 8, 10)
    assert full[8:10] == "５Ｇ"


def test_full_width_mixed_with_han() -> None:
    a = analyzer()
    assert a.tokens("ＡＰＰ２０２２，５Ｇ网络") == [
        T("app2022", 0, 0, 7),
        T("5g", 1, 8, 10),
        T("网络", 2, 10, 12),
    ]


def test_traditional_gives_the_same_terms_as_simplified() -> None:
    a = analyzer()
    assert a.terms("經濟發展") == a.terms("经济发展")
    assert a.query_words("經濟發展") == ["经济", "发展"]
    assert a.tokens("國務院總理李克強") == a.tokens("国务院总理李克强")
    assert a.token_string("經濟發展") == "经济发展"


def test_normalize_keeps_length_on_special_characters() -> None:
    a = analyzer()
    # Characters whose NFKC or lower-case forms have several characters stay as they are.
    for text in ["㎏", "İ", "ﬁ", "①", "Ⅻ", "…", "ß"]:
        out = a.normalize(text)
        assert len(out) == len(text)
        assert a.normalize(out) == out


def test_token_string_drops_separators_and_marks_alnum_boundaries() -> None:
    a = analyzer()
    assert a.token_string("工业，经济") == "工业经济"
    assert a.token_string("5G 网络") == "5g网络"
    assert a.token_string("5 G") == "5" + BOUNDARY + "g"
    assert a.token_string("3.5%") == "3.5"
    assert a.token_string("HFO-1234yf") == "hfo" + BOUNDARY + "1234yf"
    assert a.token_string("“提振 工业”") == "提振工业"


# --------------------------------------------------------------------------------------------------
# Properties


TEXTS = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(
            list("工业经济中华人民共和国比亚迪電視發展") + list("ＡＰＰ５Ｇ０１２. -,，。%aZ9\n\t")
        ),
    ),
    max_size=60,
)


def check_tokens(a: Analyzer, text: str) -> None:
    tokens = a.tokens(text)
    last_pos = -1
    word: Token | None = None
    for tok in tokens:
        assert tok.text, tok
        assert 0 <= tok.start < tok.end <= len(text)
        assert a.normalize(text[tok.start : tok.end]) == tok.text
        assert tok.pos >= last_pos
        if tok.sub:
            assert word is not None
            assert tok.pos == word.pos
            assert word.start <= tok.start and tok.end <= word.end
            assert len(tok.text) < len(word.text)
        else:
            assert tok.pos == last_pos + 1
            if word is not None:
                assert tok.start >= word.end
            word = tok
        last_pos = tok.pos


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXTS)
@example("中华人民共和国成立了")
@example("ＡＰＰ２０２２，５Ｇ")
@example("3.5.6 1.a .5 a.b")
@example("\x00a\x00")
def test_tokens_slice_to_themselves(text: str) -> None:
    check_tokens(analyzer(), text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_normalize_keeps_length_and_is_idempotent(text: str) -> None:
    a = analyzer()
    out = a.normalize(text)
    assert len(out) == len(text)
    assert a.normalize(out) == out
    # Character by character: normalising a piece is a piece of the normalised text.
    for i in range(0, len(text), 7):
        assert a.normalize(text[i : i + 5]) == out[i : i + 5]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXTS, st.data())
@example("3.5", None)
@example("a 1.5", None)
@example("5 G网络", None)
def test_token_string_of_a_substring_is_a_substring(text: str, data: st.DataObject | None) -> None:
    a = analyzer()
    whole = a.token_string(text)
    if data is None:
        pieces = [text[i:j] for i in range(len(text)) for j in range(i + 1, len(text) + 1)]
    else:
        i = data.draw(st.integers(0, len(text)))
        j = data.draw(st.integers(i, len(text)))
        pieces = [text[i:j]]
    for piece in pieces:
        assert a.token_string(piece) in whole, (piece, text)


@settings(max_examples=200, deadline=None)
@given(TEXTS)
def test_token_string_joins_the_token_texts(text: str) -> None:
    # Without separators and boundaries, the token string is the precise words run together.
    a = analyzer()
    words = [t.text for t in a.tokens(text, subwords=False)]
    assert a.token_string(text).replace(BOUNDARY, "") == "".join(words)


@settings(max_examples=200, deadline=None)
@given(TEXTS)
def test_terms_agree_with_tokens_for_any_text(text: str) -> None:
    a = analyzer()
    precise = [t for t in a.tokens(text) if not t.sub]
    counts = a.terms(text)
    assert counts.length == len(precise)
    assert sum(len(p) for p in counts.words.values()) == len(precise)


# --------------------------------------------------------------------------------------------------
# rjieba against jieba; user dictionary


def test_rjieba_and_jieba_agree_on_real_posts(xwlb_dir: Path) -> None:
    pytest.importorskip("rjieba")
    fast = Analyzer(current_settings())
    slow = Analyzer(current_settings(), prefer_fast=False)
    assert type(fast.segmenter).__name__ == "RJiebaSegmenter"
    assert type(slow.segmenter).__name__ == "JiebaSegmenter"
    files = sorted(p.name for p in xwlb_dir.iterdir())[::100]
    assert len(files) >= 300
    checked = 0
    for name in files:
        post = read_post(xwlb_dir, name)
        for text in (post.title, post.text):
            assert fast.tokens(text) == slow.tokens(text), name
            assert fast.terms(text) == slow.terms(text), name
            checked += 1
    assert checked == 2 * len(files)


def test_rjieba_and_jieba_agree_on_fixed_sentences() -> None:
    slow = Analyzer(current_settings(), prefer_fast=False)
    for text, expected in FIXED.items():
        assert slow.tokens(text) == expected


def test_user_dictionary_makes_a_word_one_token() -> None:
    text = "新冠肺炎疫情防控"
    plain = analyzer()
    assert "新冠肺炎" not in plain.query_words(text)
    custom = Analyzer(current_settings(user_dict="新冠肺炎 10 n\n"))
    assert custom.query_words(text) == ["新冠肺炎", "疫情", "防控"]
    first = custom.tokens(text)[0]
    assert first == T("新冠肺炎", 0, 0, 4)
    assert custom.settings.user_dict_digest is not None
    assert plain.settings.user_dict_digest is None


def test_user_dictionary_without_frequency() -> None:
    custom = Analyzer(current_settings(user_dict="稳经济大盘\n\n"))
    assert "稳经济大盘" in custom.query_words("全力稳经济大盘工作")
