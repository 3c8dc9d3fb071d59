"""bench/RESULTS.md on disk: a full run writes it whole; `--only webhook` replaces only its webhook parts.

The webhook parts are section 1 (`## 1. Webhook …` up to the next `## ` heading, its `###` subsections
included) and the target rows that section measures; a note under the header says when and at what size
they were measured, since the other sections stay those of the last full run.
"""
import os

WEBHOOK_HEADING = "## 1. Webhook"
# Rows of the Targets table that section 1 measures (the index cost is measured by a full run only).
WEBHOOK_TARGETS = ("| webhook req/s ", "| webhook p99 ", "| webhook: ", "| dashboard indexes cost the insert")
NOTE_START = "Section 1 (webhook) re-measured"


def write(path: str, text: str) -> None:
    """Write RESULTS.md whole."""
    with open(path, "w") as out:
        out.write(text)


def splice_webhook(path: str, header: str, body: str, note: str) -> str:
    """Put a webhook-only run's section and targets into the RESULTS.md at `path`; its new text.

    With no earlier full run to splice into, the webhook-only header and body make the file alone.
    """
    old = open(path).read() if os.path.exists(path) else ""
    if WEBHOOK_HEADING not in old or "## Targets" not in old:
        text = header + body
    else:
        text = _with_note(_with_targets(_with_section(old, body), body), note)
    write(path, text)
    return text


def _section_span(text: str) -> tuple[int, int]:
    start = text.index(WEBHOOK_HEADING)
    end = text.find("\n## ", start)
    return start, len(text) if end == -1 else end + 1


def _with_section(old: str, body: str) -> str:
    start, end = _section_span(old)
    new_start, new_end = _section_span(body)
    section = body[new_start:new_end].rstrip("\n") + "\n"
    if end < len(old):
        section += "\n"
    return old[:start] + section + old[end:]


def _with_targets(old: str, body: str) -> str:
    new_rows = [line for line in body.splitlines() if line.startswith(WEBHOOK_TARGETS)]
    lines, out, in_targets = old.splitlines(), [], False
    for line in lines:
        if line.startswith("## "):
            in_targets = line == "## Targets"
        if in_targets and line.startswith(WEBHOOK_TARGETS):
            continue
        out.append(line)
        if in_targets and line.startswith("|---"):
            out += new_rows
    return "\n".join(out) + "\n"


def _with_note(old: str, note: str) -> str:
    start = old.find(NOTE_START)
    if start != -1:  # the note of an earlier webhook-only run, and the blank line after it
        old = old[:start] + old[old.index("\n\n", start) + 2:]
    machine = old.index("**Machine:**")
    return old[:machine] + note + "\n\n" + old[machine:]
