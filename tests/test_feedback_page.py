"""The feedback page's HTML head: readable on phones and with Korean fonts of every system."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from autograder import feedback


class _Head(HTMLParser):
    def __init__(self):
        super().__init__()
        self.metas, self.style, self._in_style = [], "", False

    def handle_starttag(self, tag, attrs):
        if tag == "meta":
            self.metas.append(dict(attrs))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.style += data


def _page() -> _Head:
    html = feedback._template().render(
        assignment="hw5", student="s1", total=0, max_total=100, graded_at=None, notes=[], tasks=[]
    )
    head = _Head()
    head.feed(html)
    return head


def test_feedback_page_has_a_viewport_and_a_korean_font_stack_for_each_system():
    head = _page()
    assert {"name": "viewport", "content": "width=device-width, initial-scale=1"} in head.metas
    assert {"charset": "utf-8"} in head.metas
    body = re.search(r"body\s*\{([^}]*)\}", head.style).group(1)
    stack = [
        f.strip().strip('"') for f in re.search(r"font-family:([^;]*);", body).group(1).split(",")
    ]
    for font in (
        "Apple SD Gothic Neo",  # macOS, iOS
        "Malgun Gothic",  # Windows
        "Noto Sans CJK KR",  # Linux (fonts-noto-cjk), Android
        "NanumGothic",
    ):  # Linux (fonts-nanum)
        assert font in stack, (font, stack)
    assert stack[-1] == "sans-serif"
