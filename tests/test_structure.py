"""Every page in _toc.yml follows the page skeleton of STYLE.md.

The skeleton, as checked here (headings are compared without case and a trailing colon):

- one ``#`` title, and it is the first heading;
- ``## Overview``, ``## You will learn to`` (a list of 3 to 5 items) and
  ``## Prerequisites`` (a table with the columns Concept | Importance | Notes) open the
  page, in that order, as its first ``##`` sections;
- the Prerequisites section holds the time estimate, one line of exactly this form:
  ``Time to complete: 30 minutes`` (whole minutes, even past an hour);
- the last three ``##`` sections are Summary (a list of 3 to 5 items), What's next and
  References, in that order;
- a notebook has every code cell executed, in order (nbval compares against them);
- a lab (a notebook under labs/) starts the sandbox in its first code cell
  (``Sandbox.start``) and stops it in its last (``.stop()``), and has at least one
  exercise: a heading starting with "Exercise", whose section holds a check cell
  (a call to ``check``) and a folded solution (a code cell tagged ``hide-input``, or a
  ``dropdown`` directive in a markdown cell);
- a pattern chapter (a page under chapters/ in a part of _toc.yml named after one of
  the six patterns) has, between Prerequisites and Summary, exactly the sections that
  every pattern chapter shares, in this order: When to use it and when not; How it
  works (with a ``mermaid`` sequence diagram); How to build it on the platform; What
  goes wrong; Security; Timeliness and data volumes; Limits that bite; Interview
  questions (with a code cell that shows the quiz, ``display_quiz("<file>.json")``).

Every .md and .ipynb file under chapters/ and labs/ must be listed in _toc.yml. Every
quiz file that a notebook shows is well formed: each question has answers, the right
number of them correct, and feedback on every answer that says why.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from markdown_it import MarkdownIt
from mdit_py_plugins.colon_fence import colon_fence_plugin
from mdit_py_plugins.front_matter import front_matter_plugin

ROOT = Path(__file__).resolve().parent.parent

# Pages that skip a rule, and why. Page names are as in _toc.yml (no suffix).
# Rules: h1, overview, objectives, prerequisites, time, closing, executed, lab.
EXEMPTIONS: list[tuple[str, str, str]] = [
    # (page, rule, reason)
    ("intro", "objectives", "the landing page presents the course; it teaches no task"),
    ("intro", "prerequisites", "the landing page's 'Who it is for' says who can start"),
    ("intro", "time", "the landing page is not a unit of study"),
    ("intro", "closing", "the landing page ends by pointing to the first page"),
    ("chapters/not-emulated", "objectives", "a reference table to look things up in"),
    (
        "chapters/not-emulated",
        "prerequisites",
        "a reference page; nothing to know first",
    ),
    ("chapters/not-emulated", "time", "a reference page is consulted, not completed"),
]

# Sections a page must have besides the skeleton.
EXTRA_SECTIONS: dict[str, list[str]] = {
    "intro": ["How to take this course"],
}

RULES = ("h1", "overview", "objectives", "prerequisites", "time", "closing", "pattern")
NOTEBOOK_RULES = ("executed", "lab")
OPENING = [("overview", "overview"), ("objectives", "you will learn to"),
           ("prerequisites", "prerequisites")]  # fmt: skip
CLOSING = ["summary", "what's next", "references"]
PREREQ_COLUMNS = ["concept", "importance", "notes"]
TIME_LINE = re.compile(r"Time to complete: ([1-9][0-9]*) minutes")
CHECK_CALL = re.compile(r"\bcheck\w*\s*\(")
SANDBOX_START = re.compile(r"\bSandbox\.start\s*\(")
SANDBOX_STOP = re.compile(r"\.stop\s*\(\s*\)")

# The six patterns, as the parts of _toc.yml that hold their chapter and lab are named.
PATTERNS = (
    "Request and Reply",
    "Fire and Forget",
    "Batch Data Synchronization",
    "Remote Call-In",
    "UI Update from External System",
    "Data Virtualization",
)
# The sections every pattern chapter shares (STYLE.md), so readers can compare them.
PATTERN_SECTIONS = [
    "when to use it and when not",
    "how it works",
    "how to build it on the platform",
    "what goes wrong",
    "security",
    "timeliness and data volumes",
    "limits that bite",
    "interview questions",
]
MIN_QUIZ_QUESTIONS = 6
QUIZ_CALL = re.compile(r"""\bdisplay_quiz\(\s*["']([^"']+\.json)["']""")
QUIZ_TYPES = {"multiple_choice": (1, 1), "many_choice": (1, None)}  # correct: min, max


@dataclass
class Block:
    """One element of a page, in reading order."""

    kind: str  # heading, list, table, paragraph, directive, code
    text: str = ""  # heading or paragraph text, directive name, code source
    level: int = 0  # heading level
    items: int = 0  # top-level items of a list
    columns: list[str] = field(default_factory=list)  # table header
    body: str = ""  # directive content
    cell: int | None = None  # notebook cell index
    tags: list[str] = field(default_factory=list)  # notebook cell tags
    executed: int | None = None  # code cell execution_count


@dataclass
class Page:
    name: str  # as in _toc.yml
    path: Path
    blocks: list[Block]
    part: str = ""  # the caption of its part in _toc.yml

    @property
    def is_pattern_chapter(self) -> bool:
        return self.name.startswith("chapters/") and self.part in PATTERNS

    @property
    def label(self) -> str:
        return str(self.path.relative_to(ROOT))

    @property
    def is_notebook(self) -> bool:
        return self.path.suffix == ".ipynb"

    @property
    def is_lab(self) -> bool:
        return self.is_notebook and self.name.startswith("labs/")

    def headings(self, level: int | None = None) -> list[Block]:
        return [
            b
            for b in self.blocks
            if b.kind == "heading" and (level is None or b.level == level)
        ]

    def section(self, heading: Block) -> list[Block]:
        """The blocks under a heading, up to the next heading of its level or above."""
        start = self.blocks.index(heading) + 1
        end = len(self.blocks)
        for i in range(start, len(self.blocks)):
            block = self.blocks[i]
            if block.kind == "heading" and block.level <= heading.level:
                end = i
                break
        return self.blocks[start:end]

    def find(self, title: str, level: int = 2) -> Block | None:
        return next((h for h in self.headings(level) if norm(h.text) == title), None)


def norm(text: str) -> str:
    return text.strip().rstrip(":").strip().replace("\u2019", "'").lower()


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark").enable("table")
    return md.use(front_matter_plugin).use(colon_fence_plugin)


def parse_markdown(text: str, cell: int | None = None) -> list[Block]:
    """Headings, lists, tables, paragraphs and directives at the top level."""
    tokens = _markdown().parse(text)
    blocks: list[Block] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.type == "heading_open":
            level = int(token.tag[1])
            blocks.append(
                Block("heading", tokens[i + 1].content, level=level, cell=cell)
            )
        elif (
            token.type in ("bullet_list_open", "ordered_list_open") and token.level == 0
        ):
            close = token.type.replace("_open", "_close")
            items, j = 0, i + 1
            while not (tokens[j].type == close and tokens[j].level == 0):
                items += tokens[j].type == "list_item_open" and tokens[j].level == 1
                j += 1
            blocks.append(Block("list", items=items, cell=cell))
            i = j
        elif token.type == "table_open":
            columns, j = [], i + 1
            while tokens[j].type != "thead_close":
                if tokens[j].type == "inline":
                    columns.append(norm(tokens[j].content))
                j += 1
            blocks.append(Block("table", columns=columns, cell=cell))
        elif token.type == "paragraph_open" and token.level == 0:
            blocks.append(Block("paragraph", tokens[i + 1].content.strip(), cell=cell))
        elif token.type in ("fence", "colon_fence") and token.info.startswith("{"):
            name = token.info.strip()[1:].split("}", 1)[0]
            blocks.append(Block("directive", name, body=token.content, cell=cell))
        i += 1
    return blocks


def parse_notebook(path: Path) -> list[Block]:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    blocks: list[Block] = []
    for index, cell in enumerate(notebook["cells"]):
        source = cell["source"]
        source = "".join(source) if isinstance(source, list) else source
        if cell["cell_type"] == "markdown":
            blocks += parse_markdown(source, cell=index)
        elif cell["cell_type"] == "code" and source.strip():
            blocks.append(
                Block(
                    "code",
                    source,
                    cell=index,
                    tags=cell.get("metadata", {}).get("tags", []),
                    executed=cell.get("execution_count"),
                )
            )
    return blocks


def toc_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    names = [toc["root"]]

    def walk(entries: list[dict]) -> None:
        for entry in entries:
            if "file" in entry:
                names.append(entry["file"])
            for key in ("parts", "chapters", "sections"):
                walk(entry.get(key, []))

    walk(toc.get("parts", []) + toc.get("chapters", []))
    return [str(Path(name).with_suffix("")) for name in names]


def toc_parts() -> dict[str, str]:
    """Each page listed in a part of _toc.yml, mapped to the part's caption."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    parts: dict[str, str] = {}

    def walk(entries: list[dict], caption: str) -> None:
        for entry in entries:
            if "file" in entry:
                parts[str(Path(entry["file"]).with_suffix(""))] = caption
            for key in ("chapters", "sections"):
                walk(entry.get(key, []), caption)

    for part in toc.get("parts", []):
        walk(part.get("chapters", []), part.get("caption", ""))
    return parts


def resolve(name: str) -> Path | None:
    for suffix in (".md", ".ipynb"):
        path = ROOT / f"{name}{suffix}"
        if path.is_file():
            return path
    return None


def load(name: str) -> Page:
    path = resolve(name)
    if path is None:
        pytest.fail(f"{name}: listed in _toc.yml, but no {name}.md or {name}.ipynb")
    if path.suffix == ".ipynb":
        blocks = parse_notebook(path)
    else:
        blocks = parse_markdown(path.read_text(encoding="utf-8"))
    return Page(name, path, blocks, part=toc_parts().get(name, ""))


def exempt(page: Page, rule: str) -> bool:
    return any(p == page.name and r == rule for p, r, _ in EXEMPTIONS)


# ---- the rules: each returns the problems it found, as sentences ----


def check_h1(page: Page) -> list[str]:
    headings = page.headings()
    titles = page.headings(1)
    if not headings or headings[0].level != 1:
        first = (
            f"'{headings[0].text}' (level {headings[0].level})" if headings else None
        )
        return [f"the first heading must be the '#' title; found {first}"]
    if len(titles) > 1:
        return [f"one '#' title only; found {len(titles)}: {[t.text for t in titles]}"]
    return []


def check_opening(page: Page) -> list[str]:
    """Overview, You will learn to and Prerequisites open the page, in that order."""
    expected = [title for rule, title in OPENING if not exempt(page, rule)]
    found = [norm(h.text) for h in page.headings(2)][: len(expected)]
    if found != expected:
        return [f"the first '##' sections must be {expected}; found {found}"]
    return []


def check_objectives(page: Page) -> list[str]:
    heading = page.find("you will learn to")
    if heading is None:
        return ["no '## You will learn to' section"]
    lists = [b for b in page.section(heading) if b.kind == "list"]
    if len(lists) != 1 or not 3 <= lists[0].items <= 5:
        counts = [b.items for b in lists]
        return [f"'You will learn to' needs one list of 3 to 5 items; found {counts}"]
    return []


def check_prerequisites(page: Page) -> list[str]:
    heading = page.find("prerequisites")
    if heading is None:
        return ["no '## Prerequisites' section"]
    tables = [b for b in page.section(heading) if b.kind == "table"]
    if not tables:
        return ["'Prerequisites' has no table (columns: Concept | Importance | Notes)"]
    if tables[0].columns != PREREQ_COLUMNS:
        return [f"the Prerequisites table's columns must be {PREREQ_COLUMNS}; "
                f"found {tables[0].columns}"]  # fmt: skip
    return []


def check_time(page: Page) -> list[str]:
    lines = [
        b for b in page.blocks if b.kind == "paragraph" and TIME_LINE.fullmatch(b.text)
    ]
    heading = page.find("prerequisites")
    if len(lines) != 1:
        return [f"needs exactly one line 'Time to complete: N minutes'; "
                f"found {len(lines)}"]  # fmt: skip
    if heading is None or lines[0] not in page.section(heading):
        return ["the 'Time to complete: N minutes' line belongs in 'Prerequisites'"]
    return []


def check_closing(page: Page) -> list[str]:
    found = [norm(h.text) for h in page.headings(2)][-len(CLOSING) :]
    if found != CLOSING:
        return [f"the last '##' sections must be {CLOSING}; found {found}"]
    problems = []
    summary_lists = [b for b in page.section(page.find("summary")) if b.kind == "list"]
    if not summary_lists or not 3 <= summary_lists[0].items <= 5:
        problems.append("'Summary' needs a list of 3 to 5 items (what you did)")
    if not page.section(page.find("references")):
        problems.append("'References' is empty")
    return problems


def check_extra_sections(page: Page) -> list[str]:
    return [
        f"no '## {title}' section"
        for title in EXTRA_SECTIONS.get(page.name, [])
        if page.find(norm(title)) is None
    ]


def check_executed(page: Page) -> list[str]:
    code = [b for b in page.blocks if b.kind == "code"]
    missing = [b.cell for b in code if b.executed is None]
    if missing:
        return [f"code cells {missing} are not executed: run the notebook and save it"]
    counts = [b.executed for b in code]
    if counts != sorted(counts) or len(set(counts)) != len(counts):
        return [f"code cells ran out of order (execution counts {counts}): "
                "restart the kernel, run all, save"]  # fmt: skip
    return []


def is_folded_solution(block: Block) -> bool:
    if block.kind == "code":
        return "hide-input" in block.tags
    if block.kind == "directive":
        return block.text == "dropdown" or ":class: dropdown" in block.body
    return False


def check_lab(page: Page) -> list[str]:
    problems = []
    code = [b for b in page.blocks if b.kind == "code"]
    if not code:
        return ["a lab needs code cells"]
    if not SANDBOX_START.search(code[0].text):
        problems.append(f"the first code cell (cell {code[0].cell}) must start the "
                        "sandbox with Sandbox.start(...)")  # fmt: skip
    if not SANDBOX_STOP.search(code[-1].text):
        problems.append(f"the last code cell (cell {code[-1].cell}) must stop the "
                        "sandbox (sandbox.stop())")  # fmt: skip

    exercises = [h for h in page.headings() if norm(h.text).startswith("exercise")]
    if not exercises:
        problems.append("a lab needs at least one exercise (a heading 'Exercise: ...')")
    for heading in exercises:
        section = page.section(heading)
        if not any(b.kind == "code" and CHECK_CALL.search(b.text) for b in section):
            problems.append(f"exercise '{heading.text}' has no check cell (a code "
                            "cell calling check)")  # fmt: skip
        if not any(is_folded_solution(b) for b in section):
            problems.append(f"exercise '{heading.text}' has no folded solution (a code "
                            "cell tagged hide-input, or a dropdown)")  # fmt: skip
    return problems


def check_pattern(page: Page) -> list[str]:
    """A pattern chapter has the shared sections, a sequence diagram and a quiz."""
    if not page.is_pattern_chapter:
        return []
    titles = [norm(h.text) for h in page.headings(2)]
    try:
        middle = titles[titles.index("prerequisites") + 1 : titles.index("summary")]
    except ValueError:
        return []  # the opening and closing checks report the missing section
    if middle != PATTERN_SECTIONS:
        return [f"a pattern chapter's sections between Prerequisites and Summary "
                f"must be {PATTERN_SECTIONS}; found {middle}"]  # fmt: skip

    problems = []
    how = page.section(page.find("how it works"))
    if not any(
        b.kind == "directive" and b.text == "mermaid" and "sequenceDiagram" in b.body
        for b in how
    ):
        problems.append("'How it works' needs a sequence diagram (a mermaid block "
                        "with sequenceDiagram)")  # fmt: skip
    quiz = page.section(page.find("interview questions"))
    calls = [m for b in quiz if b.kind == "code" for m in QUIZ_CALL.findall(b.text)]
    if not calls:
        problems.append("'Interview questions' needs a code cell that shows the quiz "
                        '(display_quiz("<file>.json"))')  # fmt: skip
    for name in calls:
        questions, quiz_problems = read_quiz(page.path.parent / name)
        problems += quiz_problems
        if not quiz_problems and len(questions) < MIN_QUIZ_QUESTIONS:
            problems.append(f"{name} has {len(questions)} questions; a pattern "
                            f"chapter needs at least {MIN_QUIZ_QUESTIONS}")  # fmt: skip
    return problems


def read_quiz(path: Path) -> tuple[list[dict], list[str]]:
    """A jupyterquiz file's questions, and what is wrong with them."""
    label = path.name
    if not path.is_file():
        return [], [f"{label}: no such file next to the notebook"]
    try:
        questions = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        return [], [f"{label}: not valid JSON ({error})"]
    if not isinstance(questions, list) or not questions:
        return [], [f"{label}: must be a non-empty list of questions"]
    return questions, [
        f"{label}, question {number}: {problem}"
        for number, question in enumerate(questions, start=1)
        for problem in quiz_question_problems(question)
    ]


def quiz_question_problems(question: object) -> list[str]:
    if not isinstance(question, dict):
        return ["must be an object"]
    if not str(question.get("question", "")).strip():
        return ["has no question text"]
    kind = question.get("type")
    if kind not in QUIZ_TYPES:
        return [f"type {kind!r} is not one of {sorted(QUIZ_TYPES)}"]
    answers = question.get("answers")
    if not isinstance(answers, list) or len(answers) < 2:
        return ["needs at least two answers"]
    problems = []
    for number, answer in enumerate(answers, start=1):
        if not isinstance(answer, dict) or not str(answer.get("answer", "")).strip():
            problems.append(f"answer {number} has no text")
        elif not isinstance(answer.get("correct"), bool):
            problems.append(f"answer {number} needs 'correct': true or false")
        elif not str(answer.get("feedback", "")).strip():
            problems.append(f"answer {number} has no feedback saying why")
    correct = sum(
        1 for a in answers if isinstance(a, dict) and a.get("correct") is True
    )
    least, most = QUIZ_TYPES[kind]
    if correct < least or (most is not None and correct > most):
        wanted = "exactly one" if most == 1 else "at least one"
        problems.append(f"a {kind} question needs {wanted} correct answer; "
                        f"found {correct}")  # fmt: skip
    return problems


CHECKS = {
    "h1": check_h1,
    "objectives": check_objectives,
    "prerequisites": check_prerequisites,
    "time": check_time,
    "closing": check_closing,
    "executed": check_executed,
    "lab": check_lab,
    "pattern": check_pattern,
}


def problems_of(page: Page) -> list[str]:
    problems = check_opening(page) + check_extra_sections(page)
    if page.find("overview") is None:
        problems.append("no '## Overview' section")
    for rule, check in CHECKS.items():
        if rule == "executed" and not page.is_notebook:
            continue
        if rule == "lab" and not page.is_lab:
            continue
        if not exempt(page, rule):
            problems += check(page)
    return list(dict.fromkeys(problems))


# ---- the tests ----

PAGES = toc_pages()


@pytest.mark.parametrize("name", PAGES)
def test_page_follows_the_skeleton(name: str) -> None:
    page = load(name)
    problems = problems_of(page)
    assert not problems, f"{page.label}:\n  - " + "\n  - ".join(problems)


def test_every_page_is_in_the_toc() -> None:
    listed = set(PAGES)
    files = [
        p
        for folder in ("chapters", "labs")
        for p in sorted((ROOT / folder).rglob("*"))
        if p.suffix in (".md", ".ipynb") and ".ipynb_checkpoints" not in p.parts
    ]
    orphans = [
        str(p.relative_to(ROOT))
        for p in files
        if str(p.relative_to(ROOT).with_suffix("")) not in listed
    ]
    assert not orphans, f"pages missing from _toc.yml (the book skips them): {orphans}"


QUIZ_NOTEBOOKS = [
    (name, quiz)
    for name in PAGES
    if (path := resolve(name)) is not None and path.suffix == ".ipynb"
    for block in parse_notebook(path)
    if block.kind == "code"
    for quiz in QUIZ_CALL.findall(block.text)
]


@pytest.mark.parametrize(("name", "quiz"), QUIZ_NOTEBOOKS)
def test_every_quiz_is_well_formed(name: str, quiz: str) -> None:
    _, problems = read_quiz((ROOT / name).parent / quiz)
    assert not problems, f"{name}:\n  - " + "\n  - ".join(problems)


def test_exemptions_name_real_pages_and_rules() -> None:
    known = set(RULES + NOTEBOOK_RULES)
    wrong = [(p, r) for p, r, _ in EXEMPTIONS if p not in PAGES or r not in known]
    assert not wrong, f"exemptions for unknown pages or rules (known: {known}): {wrong}"
    reasonless = [(p, r) for p, r, why in EXEMPTIONS if not why.strip()]
    assert not reasonless, f"every exemption needs a reason: {reasonless}"


# ---- the checker checks itself on small pages ----

GOOD = """# Title

## Overview

Text.

## You will learn to

- One
- Two
- Three

## Prerequisites

| Concept | Importance | Notes |
|---|---|---|
| A | Helpful | B |

Time to complete: 20 minutes

## Body

```python
# A comment, not a heading
```

## Summary

- One
- Two
- Three

## What's next

Next.

## References

- A source.
"""


def _page(text: str, name: str = "chapters/sample") -> Page:
    return Page(name, ROOT / f"{name}.md", parse_markdown(text))


def test_checker_accepts_a_good_page() -> None:
    assert problems_of(_page(GOOD)) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("# Title\n", "# Title\n\n# Another\n"), "one '#' title only"),
        (("- Three\n\n## Pre", "\n## Pre"), "list of 3 to 5 items"),
        (("20 minutes", "20 min"), "Time to complete"),
        (("| Concept |", "| Idea |"), "columns must be"),
        (("## What's next", "## Next steps"), "last '##' sections"),
        (("## Overview", "## About"), "first '##' sections"),
    ],
)
def test_checker_reports_what_is_wrong(change: tuple[str, str], expected: str) -> None:
    problems = problems_of(_page(GOOD.replace(*change)))
    assert any(expected in p for p in problems), problems


PATTERN_MIDDLE = """## When to use it and when not

Text.

## How it works

```{mermaid}
sequenceDiagram
    A->>B: Hello
```

## How to build it on the platform

Text.

## What goes wrong

Text.

## Security

Text.

## Timeliness and data volumes

Text.

## Limits that bite

Text.

## Interview questions

Text.

"""


def _pattern_page(tmp_path: Path, middle: str, quiz: object) -> Page:
    """A pattern chapter whose quiz cell shows tmp_path/quiz.json."""
    (tmp_path / "quiz.json").write_text(json.dumps(quiz), encoding="utf-8")
    before = GOOD.split("## Body")[0]
    after = GOOD.split("## Summary")[1]
    blocks = parse_markdown(before + middle) + [
        Block("code", 'display_quiz("quiz.json")', cell=1, executed=1)
    ]
    blocks += parse_markdown("## Summary" + after)
    return Page("chapters/sample", tmp_path / "sample.ipynb", blocks, "Remote Call-In")


def _question(correct: int = 1, feedback: str = "Because.") -> dict:
    answers = [
        {"answer": f"Answer {i}", "correct": i < correct, "feedback": feedback}
        for i in range(3)
    ]
    return {"question": "Why?", "type": "multiple_choice", "answers": answers}


def test_checker_accepts_a_good_pattern_chapter(tmp_path: Path) -> None:
    page = _pattern_page(tmp_path, PATTERN_MIDDLE, [_question()] * 6)
    assert problems_of(page) == []


@pytest.mark.parametrize(
    ("change", "quiz", "expected"),
    [
        (("## Security\n", "## Safety\n"), None, "sections between Prerequisites"),
        (("sequenceDiagram", "flowchart LR"), None, "sequence diagram"),
        (None, [_question()] * 5, "at least 6"),
        (None, [_question(correct=2)] * 6, "exactly one correct"),
        (None, [_question(feedback="")] * 6, "no feedback"),
    ],
)
def test_checker_reports_what_is_wrong_with_a_pattern_chapter(
    tmp_path: Path, change: tuple[str, str] | None, quiz: list | None, expected: str
) -> None:
    middle = PATTERN_MIDDLE.replace(*change) if change else PATTERN_MIDDLE
    page = _pattern_page(tmp_path, middle, quiz or [_question()] * 6)
    problems = problems_of(page)
    assert any(expected in p for p in problems), problems
