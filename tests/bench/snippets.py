"""The cost of one snippet (one hit) on posts of 10 KB to 10 MB of text, for a query word found
as typed, a literal piece found only across punctuation (经济、社会 for 经济社会), and a piece the
post does not hold.

The peer, measured in the same run, is the fixed part of a snippet of a whole post: normalising
its text and one ``str.find`` over it. The ratio says what choosing the window and highlighting
add to that.

    .venv/bin/python tests/bench/snippets.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from newsearch.analysis import Analyzer, current_settings  # noqa: E402
from newsearch.corpus import read_corpus  # noqa: E402
from newsearch.highlight import HighlightQuery, make_snippet  # noqa: E402

SIZES = (10_000, 400_000, 10_000_000)
REPEAT = 3


def best_of(run: object, repeat: int = REPEAT) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    analyzer = Analyzer(current_settings())
    posts = sorted(read_corpus(ROOT / "corpus").posts, key=lambda p: "经济、社会" not in p.text)
    # The bundled corpus's text, repeated: real sentences, 经济社会 and 经济、社会 both in it
    # (the post with 经济、社会 first, so that the smallest text holds it too).
    base = "\n".join(p.text for p in posts)

    def query(text: str, *, phrase: bool = False) -> HighlightQuery:
        words = frozenset() if phrase else frozenset(analyzer.query_words(text))
        return HighlightQuery(words, (analyzer.token_string(text),))

    cases = {
        "word as typed (经济社会)": query("经济社会"),
        "phrase across punctuation (经济社会和环境 → 经济、社会和环境)": query(
            "经济社会和环境", phrase=True
        ),
        "piece not in the post (量子引力波)": query("量子引力波"),
    }
    print(f"{'text':>10}  {'case':58} {'snippet':>10} {'peer':>10} {'ratio':>6}")
    for size in SIZES:
        text = (base * (size // len(base) + 1))[:size]
        for name, hq in cases.items():
            snippet = make_snippet(text, analyzer, hq)
            # The peer right before each case: a busy machine slows both alike.
            peer = best_of(lambda: analyzer.normalize(text).find("量子引力波"))  # noqa: B023
            cost = best_of(lambda: make_snippet(text, analyzer, hq))  # noqa: B023
            shown = [snippet.text[s:e] for s, e in snippet.highlights][:2]
            print(
                f"{size:>10,}  {name:58} {cost * 1e3:8.2f}ms {peer * 1e3:8.2f}ms "
                f"{cost / peer:5.2f}x  {shown}"
            )


if __name__ == "__main__":
    main()
