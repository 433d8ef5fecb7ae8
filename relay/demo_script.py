"""What the demo upstream answers: three scripted answers, chosen by the question.

- a workflow (the default): an early `changes` event with the workflow's YAML;
- a documentation search ("search the docs …"): apollo running a tool of its own first;
- a fix of the job code ("… job code …"): `code_edits` against the session's job code.

The web app offers one question of each kind as suggestions on an empty chat.
"""

from __future__ import annotations

import re
from typing import Any

WORKFLOW, TOOLS, CODE = "workflow", "tools", "code"

WORKFLOW_YAML = """\
name: Demo workflow
jobs:
  fetch-records:
    name: Fetch records
    adaptor: '@openfn/language-http@latest'
    body: |
      get('https://example.com/api/records');
  load-records:
    name: Load records
    adaptor: '@openfn/language-postgresql@latest'
    body: |
      upsert('records', 'id', state => state.data);
triggers:
  cron:
    type: cron
    cron_expression: '0 * * * *'
    enabled: false
edges:
  cron->fetch-records:
    source_trigger: cron
    target_job: fetch-records
    condition_type: always
  fetch-records->load-records:
    source_job: fetch-records
    target_job: load-records
    condition_type: on_job_success
"""

REVISED_YAML = WORKFLOW_YAML.replace("enabled: false", "enabled: true")

# The job code `streamrelay dev` starts its demo session with: a step that forgets to return the state.
SAMPLE_JOB_CODE = """\
get('https://example.com/api/records');

fn(state => {
  const names = state.data.map(record => record.name);
});
"""
_BROKEN = "  const names = state.data.map(record => record.name);\n});"
_FIXED = "  state.data = state.data.map(record => ({ id: record.id, name: record.name.trim() }));\n  return state;\n});"
_NEW_STEP = "\nfn(state => {\n  state.data = state.data.filter(record => record.name);\n  return state;\n});\n"

ANSWERS = {
    WORKFLOW: """\
## {topic}

You asked: *{question}*

Here is how I would approach it in an OpenFn workflow. The workflow is in the **Workflow** pane \
on the right, so you can review it there.

1. **Fetch** the source records with the HTTP adaptor's `get()`, paging until the API \
returns an empty list.
2. **Transform** each record in a small `fn()` step, so the mapping stays easy to test.
3. **Load** the result with `upsert()`, keyed on `id`, which makes re-runs safe.

```js
fn(state => {{
  state.data = state.data.map(record => ({{ id: record.id, name: record.name.trim() }}));
  return state;
}});
```

The cron trigger is disabled until you have checked a manual run.""",
    TOOLS: """\
## Cron triggers

I searched the documentation first (the **search_docs** step above shows what it found).

A cron trigger starts a workflow on a schedule, written as a cron expression:

| Expression | Runs |
|---|---|
| `0 * * * *` | every hour, on the hour |
| `*/15 * * * *` | every 15 minutes |
| `0 6 * * 1-5` | at 06:00 on weekdays |

Each run starts with the state the previous run left, so a step can remember the last record it saw \
and fetch only newer ones. A new trigger starts **disabled**: enable it once a manual run has worked.""",
    CODE: """\
## Returning the state

Every step of a job passes on the state its callback **returns**. Your `fn()` step builds `names` \
and returns nothing, so the next step gets no data.

I have proposed an edit to the **Job code**: the diff is under this answer. Accept it to apply it \
to the code on the right.

```js
fn(state => {{
  state.data = state.data.map(record => ({{ id: record.id, name: record.name.trim() }}));
  return state;
}});
```""",
}

MORE = (
    "\n\nA note on step {n}: keep credentials out of the job code and attach them to the "
    "step instead, so the same workflow runs unchanged in every project."
)


def kind_of(question: str) -> str:
    text = question.lower()
    if "search the docs" in text:
        return TOOLS
    if "job code" in text:
        return CODE
    return WORKFLOW


def answer_chunks(question: str, count: int, kind: str | None = None) -> list[str]:
    """The scripted answer to `question`, split into `count` pieces that join back exactly."""
    question = " ".join(question.split()) or "your question"
    topic = question if len(question) <= 60 else question[:59].rstrip() + "…"
    text = ANSWERS[kind or kind_of(question)].format(topic=topic, question=question)
    words = re.findall(r"\s*\S+", text)
    n = 1
    while len(words) < count:
        words += re.findall(r"\s*\S+", MORE.format(n=n))
        n += 1
    return ["".join(words[i * len(words) // count : (i + 1) * len(words) // count]) for i in range(count)]


def early_changes(kind: str, context: dict[str, Any]) -> dict[str, Any] | None:
    """The `changes` event of an answer of `kind`: the workflow, or edits to the session's job code."""
    if kind == WORKFLOW:
        return {"yaml": WORKFLOW_YAML}
    if kind == CODE:
        code = context.get("job_code") if isinstance(context.get("job_code"), str) else ""
        edit = {"old": _BROKEN, "new": _FIXED} if _BROKEN in code else {"old": "", "new": _NEW_STEP}
        return {"code_edits": [edit]}
    return None
