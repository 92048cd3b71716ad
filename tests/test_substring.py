"""The substring guarantee: any piece of a post's title or text finds that post, through the word
index alone, and a quoted piece finds exactly the posts that hold it literally.

Random 2-4 character pieces of real posts (新闻联播 and finews) are searched and compared with a
plain scan of the posts read by ``read_corpus``.
"""

from __future__ import annotations

import random
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import analyzer, build, copy_posts

from newsearch import SearchIndex, open_index, read_corpus
from newsearch.analysis import BOUNDARY
from newsearch.models import Post
from newsearch.query import TEXT, parse_query

#: A piece worth searching has a letter, a digit or a Han character.
_USEFUL = re.compile(r"[^\W_]")
_HAN = re.compile("[\u4e00-\u9fd5]+")


@dataclass
class Corpus:
    root: Path
    index: Path
    posts: list[Post]
    #: path -> (token string of the title, token string of the text)
    token_strings: dict[str, tuple[str, str]]


def make_corpus(root: Path, xwlb_dir: Path, finews_dir: Path, xwlb_posts: int) -> Corpus:
    corpus = root / "corpus"
    copy_posts(xwlb_dir, corpus / "xwlb", first=xwlb_posts)
    shutil.copytree(finews_dir, corpus / "finews")
    report = build(corpus, root / "index")
    result = read_corpus(corpus)
    assert report.total == len(result.posts) == xwlb_posts + 141
    a = analyzer()
    strings = {p.path: (a.token_string(p.title), a.token_string(p.text)) for p in result.posts}
    return Corpus(corpus, root / "index", list(result.posts), strings)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory, xwlb_dir: Path, finews_dir: Path) -> Corpus:
    return make_corpus(tmp_path_factory.mktemp("substring"), xwlb_dir, finews_dir, 300)


@pytest.fixture(scope="module")
def ix(small: Corpus) -> Iterator[SearchIndex]:
    with open_index(small.index) as index:
        yield index


# --------------------------------------------------------------------------------------------------
# Drawing pieces


def random_pieces(posts: list[Post], count: int, rng: random.Random) -> list[str]:
    """Random 2-4 character pieces of titles (one in five) and texts."""
    out: list[str] = []
    while len(out) < count:
        post = rng.choice(posts)
        field = post.title if rng.random() < 0.2 else post.text
        k = rng.randint(2, 4)
        if len(field) < k:
            continue
        i = rng.randrange(len(field) - k + 1)
        piece = field[i : i + k]
        if _USEFUL.search(piece):
            out.append(piece)
    return out


def boundary_pieces(posts: list[Post], count: int, rng: random.Random) -> list[str]:
    """Pieces that run across a boundary between two precise words: the end of one, the start
    of the next (or a whole short word between)."""
    a = analyzer()
    out: list[str] = []
    while len(out) < count:
        post = rng.choice(posts)
        if len(post.text) < 20:
            continue
        start = rng.randrange(len(post.text) - 10)
        window = post.text[start : start + 60]
        words = a.tokens(window, subwords=False)
        pairs = [
            (t1, t2)
            for t1, t2 in zip(words, words[1:], strict=False)
            if t1.end == t2.start and _HAN.fullmatch(t1.text) and _HAN.fullmatch(t2.text)
        ]
        if not pairs:
            continue
        t1, t2 = rng.choice(pairs)
        left = rng.randint(1, min(2, len(t1.text)))
        right = rng.randint(1, min(4 - left, len(t2.text)))
        out.append(window[t1.end - left : t2.start + right])
    return out


def long_pieces(posts: list[Post], count: int, rng: random.Random) -> list[str]:
    """Longer pieces, around and beyond the length the word lattice handles (24)."""
    out: list[str] = []
    while len(out) < count:
        post = rng.choice(posts)
        k = rng.choice([5, 8, 12, 23, 24, 25, 30, 48, 100])
        if len(post.text) < k:
            continue
        i = rng.randrange(len(post.text) - k + 1)
        piece = post.text[i : i + k]
        if _USEFUL.search(piece):
            out.append(piece)
    return out


_ALNUM_RUN = re.compile(r"[A-Za-z0-9][A-Za-z0-9.%\- ]{0,6}")


def alnum_pieces(posts: list[Post], count: int, rng: random.Random) -> list[str]:
    """Pieces around letters and digits (``5G网``, ``3.5%``, ``HFO-12``), one character of
    context on each side."""
    found: list[str] = []
    for post in posts:
        for m in _ALNUM_RUN.finditer(post.text):
            found.append(post.text[max(0, m.start() - 1) : m.end() + 1])
    found = [p for p in found if _USEFUL.search(p)]
    return rng.sample(found, min(count, len(found)))


# --------------------------------------------------------------------------------------------------
# Checking one piece


def plain_scan(c: Corpus, piece: str) -> set[str]:
    return {p.path for p in c.posts if piece in p.title or piece in p.text}


def literal_scan(c: Corpus, piece: str) -> set[str]:
    want = analyzer().token_string(piece)
    return {path for path, (t, x) in c.token_strings.items() if want in t or want in x}


def is_plain_keyword(piece: str) -> bool:
    """Whether the piece, unquoted, is read as keywords only (no -, no quotes, no field:)."""
    parsed = parse_query(piece)
    return not parsed.excluded and all(c.kind == TEXT for c in parsed.clauses)


@dataclass
class Tally:
    keyword: int = 0
    phrase: int = 0
    found: int = 0
    separated: int = 0
    failures: list[str] | None = None

    def fail(self, message: str) -> None:
        if self.failures is None:
            self.failures = []
        self.failures.append(message)


def check_piece(ix: SearchIndex, c: Corpus, piece: str, tally: Tally) -> None:
    a = analyzer()
    scan = plain_scan(c, piece)
    if is_plain_keyword(piece):
        tally.keyword += 1
        got = {h.path for h in ix.search(piece, limit=None).hits}
        missing = scan - got
        if missing:
            tally.fail(f"{piece!r}: search misses {sorted(missing)[:3]} ({len(missing)})")
    if '"' not in piece:
        tally.phrase += 1
        res = ix.search(f'"{piece}"', limit=None)
        got = {h.path for h in res.hits}
        if res.total != len(got):
            tally.fail(f'"{piece}": total {res.total} but {len(got)} hits')
        want = literal_scan(c, piece)
        if got != want:
            extra, missing = sorted(got - want)[:3], sorted(want - got)[:3]
            tally.fail(f'"{piece}": extra {extra}, missing {missing}')
        if not scan <= got:
            tally.fail(f'"{piece}": phrase misses posts holding it: {sorted(scan - got)[:3]}')
        if a.token_string(piece).replace(BOUNDARY, "") != a.normalize(piece):
            tally.separated += 1
        tally.found += bool(got)


def run_pieces(ix: SearchIndex, c: Corpus, pieces: list[str]) -> Tally:
    tally = Tally()
    for piece in pieces:
        check_piece(ix, c, piece, tally)
    assert not tally.failures, "\n".join(tally.failures[:30])
    return tally


# --------------------------------------------------------------------------------------------------
# The tests


NAMED = [
    "业经",
    "亚迪",
    "工业经济",
    "经济电",
    "话会",
    "中国特色",
    "国特",
    "新闻联",
    "闻联播",
    "播新",
    "5G",
    "APP",
    "2022",
    "27日",
    "3.5",
    "亚迪电子",
]


def test_named_pieces(ix: SearchIndex, small: Corpus) -> None:
    tally = run_pieces(ix, small, NAMED)
    assert tally.phrase == len(NAMED)
    # The named pieces are really there.
    for piece in ["业经", "亚迪"]:
        assert plain_scan(small, piece), piece
        assert "finews/2022-05-27-NW202205272394760297.md" in plain_scan(small, "业经")


def test_named_pieces_inside_words(ix: SearchIndex) -> None:
    # 业经 is inside 工业|经济 (across two words), 亚迪 inside the word 比亚迪.
    a = analyzer()
    assert "业经" not in a.query_words("提振工业经济")
    assert "亚迪" not in a.query_words("比亚迪电子")
    hits = {h.path for h in ix.search("亚迪", limit=None).hits}
    assert "finews/2021-12-08-202112082206885586.md" in hits
    for hit in ix.search('"亚迪"', limit=None).hits:
        assert "亚迪" in hit.title + hit.snippet


def test_random_pieces(ix: SearchIndex, small: Corpus) -> None:
    rng = random.Random(20220527)
    pieces = random_pieces(small.posts, 400, rng)
    tally = run_pieces(ix, small, pieces)
    assert tally.keyword >= 360
    assert tally.phrase >= 360
    assert tally.found >= 360
    # Some pieces hold separators (punctuation between characters): they are checked too.
    assert tally.separated >= 20


def test_pieces_across_word_boundaries(ix: SearchIndex, small: Corpus) -> None:
    rng = random.Random(36066)
    pieces = boundary_pieces(small.posts, 150, rng)
    a = analyzer()
    # They are not words of the analysis, only pieces of text.
    assert sum(1 for p in pieces if a.query_words(p) != [a.normalize(p)]) >= 100
    tally = run_pieces(ix, small, pieces)
    assert tally.found == len(pieces)


def test_long_pieces(ix: SearchIndex, small: Corpus) -> None:
    rng = random.Random(620)
    pieces = long_pieces(small.posts, 80, rng)
    tally = run_pieces(ix, small, pieces)
    assert tally.found == tally.phrase >= 75


def test_pieces_with_letters_and_digits(ix: SearchIndex, small: Corpus) -> None:
    rng = random.Random(141)
    pieces = alnum_pieces(small.posts, 120, rng)
    assert len(pieces) == 120
    tally = run_pieces(ix, small, pieces)
    assert tally.found == tally.phrase


@pytest.fixture(scope="module")
def segmented(tmp_path_factory: pytest.TempPathFactory, xwlb_dir: Path, finews_dir: Path) -> Corpus:
    """An index of several segments with deleted documents: built in two steps, with posts
    changed and removed in between."""
    root = tmp_path_factory.mktemp("segmented")
    corpus = root / "corpus"
    files = copy_posts(xwlb_dir, corpus / "xwlb", first=300)
    shutil.copytree(finews_dir, corpus / "finews")
    aside = root / "aside"
    aside.mkdir()
    for f in files[::3]:
        f.rename(aside / f.name)
    build(corpus, root / "index")
    for f in files[::3]:
        (aside / f.name).rename(f)
    changed = files[1::15]
    for f in changed:
        text = f.read_text(encoding="utf-8")
        text = text.replace("中国", "中华").replace("发展", "进步")
        f.write_text(text + "\n甲乙丙丁戊己庚辛。\n", encoding="utf-8")
    for f in files[2::30]:
        f.unlink()
    report = build(corpus, root / "index")
    assert report.updated == len(changed)
    assert report.removed == len(files[2::30])
    result = read_corpus(corpus)
    assert report.total == len(result.posts)
    a = analyzer()
    strings = {p.path: (a.token_string(p.title), a.token_string(p.text)) for p in result.posts}
    return Corpus(corpus, root / "index", list(result.posts), strings)


def test_pieces_on_an_index_of_several_segments(segmented: Corpus) -> None:
    rng = random.Random(2017)
    pieces = ["中国", "中华", "发展", "进步", "庚辛", "国发", "甲乙丙丁戊己庚辛", *NAMED]
    pieces += random_pieces(segmented.posts, 120, rng) + boundary_pieces(segmented.posts, 40, rng)
    with open_index(segmented.index) as index:
        assert index.info().segments >= 2
        run_pieces(index, segmented, pieces)


@pytest.mark.slow
def test_many_pieces_on_a_larger_corpus(tmp_path: Path, xwlb_dir: Path, finews_dir: Path) -> None:
    c = make_corpus(tmp_path, xwlb_dir, finews_dir, 1000)
    rng = random.Random(1)
    pieces = (
        random_pieces(c.posts, 1500, rng)
        + boundary_pieces(c.posts, 500, rng)
        + long_pieces(c.posts, 200, rng)
        + alnum_pieces(c.posts, 300, rng)
    )
    with open_index(c.index) as index:
        run_pieces(index, c, pieces)


def test_pieces_of_many_ways_are_narrowed_by_their_cheapest_characters(
    small: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Beyond _MAX_PATHS ways to split a piece into words (common at 144,000 posts, where most
    # characters are words of their own), the candidates come from the characters whose edges
    # have the fewest posts, and the dynamic programme skips the large edges. Forced here on a
    # small index with a low limit, on a fresh snapshot (no literal cached). Half of the pieces
    # are real, half two real halves joined (mostly found nowhere); every phrase must find
    # exactly the posts that hold it.
    from newsearch import matching

    narrowed: list[int] = []
    real_narrow = matching.Matcher._narrow

    def spy(self: matching.Matcher, *args: object, **kwargs: object) -> object:
        got = real_narrow(self, *args, **kwargs)  # type: ignore[arg-type]
        narrowed.append(-1 if got[0] is None else len(got[0]))
        return got

    monkeypatch.setattr(matching.Matcher, "_narrow", spy)
    monkeypatch.setattr(matching, "_MAX_PATHS", 2)
    rng = random.Random(1410)
    pieces: list[str] = []
    while len(pieces) < 80:
        post = rng.choice(small.posts)
        k = rng.randint(4, 20)
        if len(post.text) < 2 * k:
            continue
        i = rng.randrange(len(post.text) - k + 1)
        piece = post.text[i : i + k]
        if len(pieces) % 2:
            other = rng.choice(small.posts).text
            j = rng.randrange(max(1, len(other) - k // 2))
            piece = piece[: k // 2] + other[j : j + k // 2]
        if _HAN.fullmatch(piece):
            pieces.append(piece)
    with open_index(small.index) as index:
        tally = run_pieces(index, small, pieces)
    assert tally.found >= 40
    # The narrowing ran, and narrowed by characters (not by nothing) in most of the pieces.
    assert len(narrowed) >= 40
    assert sum(1 for n in narrowed if n >= 0) >= 30


def test_literal_checks_on_the_stored_text_agree_with_the_normalised_text(
    ix: SearchIndex, small: Corpus
) -> None:
    # A few candidates are checked on the stored text: a Han piece found there as it is needs
    # no normalising of the whole field, any other is looked for in the normalised field (a
    # piece across a comma, a line break or a space). Pieces drawn from the token strings
    # (so many of them span separators of the stored text), checked on posts that hold them
    # and posts that do not, against the token strings of ``read_corpus``.
    matcher = ix._matcher
    snap = matcher.snap
    by_path = {snap.stored(d, text=False).get("path"): d for d in range(snap.doc_count_all)}
    rng = random.Random(1524)
    posts = [p for p in small.posts if len(small.token_strings[p.path][1]) > 40]
    spanning = checked = 0
    for _ in range(150):
        post = rng.choice(posts)
        text = small.token_strings[post.path][1]
        k = rng.randint(2, 8)
        i = rng.randrange(len(text) - k)
        piece = text[i : i + k]
        if not _HAN.fullmatch(piece):
            continue
        spanning += piece not in post.text
        docs = {by_path[post.path]} | {by_path[rng.choice(small.posts).path] for _ in range(30)}
        want = {d for d in docs if piece in matcher.token_string(d, "text")}
        assert matcher.verify("text", piece, docs) == want, piece
        assert by_path[post.path] in want
        checked += 1
    assert checked >= 100
    # Pieces that only the normalised text holds were checked too.
    assert spanning >= 5


@pytest.mark.parametrize("bisect", [True, False])
def test_positions_of_a_few_posts_read_from_lists_kept_whole(
    ix: SearchIndex, small: Corpus, monkeypatch: pytest.MonkeyPatch, bisect: bool
) -> None:
    # A check on positions reads each term's positions for the posts asked. When the snapshot
    # keeps the term's whole list, a few posts are found in it by bisection (matching's
    # _BISECT_LIST), more by walking the list: both ways must find exactly the posts whose
    # token string holds the piece (pieces across words, a few of their candidates asked).
    from newsearch import matching

    monkeypatch.setattr(matching, "_BISECT_LIST", 0 if bisect else 10**9)
    monkeypatch.setattr(matching, "_TEXT_CHECK_MAX", -1)  # always on positions
    matcher = ix._matcher
    snap = matcher.snap
    rng = random.Random(15 + bisect)
    checked = held = left = 0
    for piece in boundary_pieces(small.posts, 200, rng):
        piece = matcher.piece(piece)
        lit = matcher.literal("text", piece)
        if lit.plan is None or len(lit.maybe) < 20:
            continue
        for terms in lit.plan.edges.values():
            for term in terms:
                snap.postings("text", term, values=True)  # kept whole in the snapshot's cache
        maybe = sorted(lit.maybe)
        docs = set(rng.sample(maybe, 3)) | {rng.randrange(snap.doc_count_all) for _ in range(2)}
        matcher._verified.clear()  # a piece checked before is answered from all its candidates
        matcher._checked.clear()  # and candidates checked before from what was found
        want = {d for d in docs if piece in matcher.token_string(d, "text")}
        assert matcher.verify("text", piece, docs) == want, piece
        checked += 1
        held += len(want)
        left += len(docs) - len(want)
    assert checked >= 20
    # Both answers were given many times: posts that hold the piece, candidates that do not.
    assert held >= 20
    assert left >= 20


@pytest.mark.parametrize("kept", [4096, 5])
def test_candidates_checked_again_are_answered_as_the_first_time(
    ix: SearchIndex, small: Corpus, monkeypatch: pytest.MonkeyPatch, kept: int
) -> None:
    # A few candidates of a piece checked are remembered (matching.CHECKED_KEPT a piece): asked
    # again, with others, in the same query or the next, each answer is still what its token
    # string says, whether the post was remembered, checked now, or past the limit.
    from newsearch import matching

    monkeypatch.setattr(matching, "CHECKED_KEPT", kept)
    matcher = ix._matcher
    rng = random.Random(kept)
    asked = remembered = 0
    for piece in boundary_pieces(small.posts, 200, rng):
        piece = matcher.piece(piece)
        lit = matcher.literal("text", piece)
        if len(lit.maybe) < 12:
            continue
        maybe = sorted(lit.maybe)
        matcher._verified.clear()
        matcher._checked.clear()
        for _ in range(4):
            docs = set(rng.sample(maybe, 3))
            remembered += len(docs & set(matcher._checked.get(("text", piece), {})))
            want = {d for d in docs if piece in matcher.token_string(d, "text")}
            assert matcher.verify("text", piece, docs) == want, piece
            asked += 1
    assert asked >= 40
    assert remembered >= 10  # answers given from what was found before


def test_a_word_s_posts_hold_it_literally(ix: SearchIndex) -> None:
    # A keyword of one word matches the posts whose literal match of the piece is sure: every
    # post that has the word (as a word or a sub-word, in the title or the text) is among them.
    # The matcher relies on it and does not add the word's posts again.
    matcher = ix._matcher
    rng = random.Random(2979)
    words = sorted(w for w in ix._snap.terms("text") if len(w) >= 2)
    checked = han = 0
    for word in rng.sample(words, 400):
        piece = matcher.piece(word)
        if matcher.analyzer.query_words(word) != [piece]:
            continue
        exact = matcher.literal("title", piece).exact | matcher.literal("text", piece).exact
        assert set(matcher.word_hits(piece).tf) <= exact, word
        if _HAN.fullmatch(word):  # (a Latin word matches the words it reads as in pinyin too)
            total = ix.search(word, limit=None).total
            assert total == len(exact | _candidates_holding(ix, piece)), word
            han += 1
        checked += 1
    assert checked >= 300
    assert han >= 200


def _candidates_holding(ix: SearchIndex, piece: str) -> set[int]:
    matcher = ix._matcher
    out: set[int] = set()
    for field in ("title", "text"):
        out |= matcher.literal_docs(field, piece)
    return out
