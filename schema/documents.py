"""Hosted documents (docs/protocol.md, "Collaborative documents"): names, and the one way text is edited.

Each document is a Yjs document (pycrdt) holding one `Y.Text` named `text`. A
text is replaced by the smallest edit that turns the old into the new (a
character diff), in one transaction, so that what others typed elsewhere in the
text meanwhile survives the merge.
"""

from __future__ import annotations

from collections.abc import Iterable
from difflib import SequenceMatcher

from pycrdt import Doc, Text

CLIENT, RELAY = "client", "relay"  # a session's `documents` mode
MODES = (CLIENT, RELAY)
NAMES = ("workflow_yaml", "job_code")
TEXT = "text"
# Which document an assistant change of each kind goes into; `code_edits` are applied by a person.
CHANGE_TARGETS = {"yaml": "workflow_yaml", "code": "job_code"}
EMPTY_UPDATE = b"\x00\x00"
DIFF_LIMIT = 4_000_000  # characters² of a changed middle worth diffing; past it the middle is replaced whole


def parse_topic(topic: str) -> tuple[str, str] | None:
    """(session_id, name) of `doc:<session_id>:<name>`, or None when the topic is not a document's."""
    prefix, _, rest = topic.partition(":")
    session_id, _, name = rest.rpartition(":")
    if prefix != "doc" or not session_id or name not in NAMES:
        return None
    return session_id, name


def load(updates: Iterable[bytes]) -> Doc:
    doc: Doc = Doc()
    doc.get(TEXT, type=Text)
    for update in updates:
        if update and update != EMPTY_UPDATE:
            doc.apply_update(update)
    return doc


def text_of(doc: Doc) -> str:
    return str(doc.get(TEXT, type=Text))


def replace_text(doc: Doc, new: str) -> bytes | None:
    """Turn the document's text into `new` by the smallest edit, in one transaction; returns that
    transaction's update, or None when the text is already `new`."""
    text = doc.get(TEXT, type=Text)
    old = str(text)
    if old == new:
        return None
    before = doc.get_state()
    with doc.transaction():
        # Back to front, so that each edit's offsets are still those of the old text.
        for start, end, replacement in reversed(_edits(old, new)):
            offset = _utf8_offset(old, start)  # pycrdt counts UTF-8 bytes
            if end > start:
                del text[offset : _utf8_offset(old, end)]
            if replacement:
                text.insert(offset, replacement)
    return doc.get_update(before)


def _edits(old: str, new: str) -> list[tuple[int, int, str]]:
    """(start, end, replacement) in `old`, ascending: the common prefix and suffix are kept outright,
    the middle is diffed (difflib) so that an edit in two places stays two small edits."""
    prefix = 0
    limit = min(len(old), len(new))
    while prefix < limit and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and old[-1 - suffix] == new[-1 - suffix]:
        suffix += 1
    a, b = old[prefix : len(old) - suffix], new[prefix : len(new) - suffix]
    if len(a) * len(b) > DIFF_LIMIT:  # difflib is quadratic: a rewrite this large is one edit
        return [(prefix, prefix + len(a), b)]
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    return [(prefix + i1, prefix + i2, b[j1:j2]) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"]


def _utf8_offset(text: str, index: int) -> int:
    return len(text[:index].encode())
