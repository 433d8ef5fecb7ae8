"""`schema.documents`: the smallest edit, so that what someone typed meanwhile elsewhere survives."""

from __future__ import annotations

from schema.documents import load, parse_topic, replace_text, text_of

YAML = "jobs:\n  fetch:\n    adaptor: http\n  load:\n    adaptor: postgresql\n"


def test_replacing_the_text_keeps_a_concurrent_edit_made_elsewhere() -> None:
    base = load([])
    original = replace_text(base, YAML)
    assert original is not None
    person, assistant = load([original]), load([original])
    typed = replace_text(person, "# mine\n" + YAML)
    applied = replace_text(assistant, YAML.replace("http", "salesforce"))
    assert typed is not None and applied is not None
    for doc in (person, assistant):
        doc.apply_update(applied if doc is person else typed)
    expected = "# mine\n" + YAML.replace("http", "salesforce")
    assert text_of(person) == text_of(assistant) == expected


def test_the_edit_touches_only_what_changed() -> None:
    doc = load([])
    replace_text(doc, YAML * 50)
    update = replace_text(doc, (YAML * 50).replace("postgresql", "mysql", 1))
    assert update is not None and len(update) < 100  # not the whole text again
    assert text_of(doc) == (YAML * 50).replace("postgresql", "mysql", 1)


def test_unicode_text_is_edited_by_characters() -> None:
    doc = load([])
    replace_text(doc, "héllo 😀 wörld")
    replace_text(doc, "héllo 🙂 wörld!")
    assert text_of(doc) == "héllo 🙂 wörld!"
    assert replace_text(doc, "héllo 🙂 wörld!") is None  # nothing to change: no update


def test_a_large_rewrite_is_one_edit_and_still_right() -> None:
    doc = load([])
    replace_text(doc, "a" * 5000)
    replace_text(doc, "b" * 5000)
    assert text_of(doc) == "b" * 5000


def test_document_topics_name_a_session_and_a_known_document() -> None:
    assert parse_topic("doc:s-1:workflow_yaml") == ("s-1", "workflow_yaml")
    assert parse_topic("doc:s-1:job_code") == ("s-1", "job_code")
    assert parse_topic("doc:s-1:other") is None
    assert parse_topic("doc::job_code") is None
    assert parse_topic("ai_session:s-1") is None
