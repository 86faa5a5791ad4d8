"""Small ipywidgets for the labs."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import pandas as pd


def records_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """SOQL records as a DataFrame: parent fields flattened, ``attributes`` dropped."""
    frame = pd.json_normalize(records)
    return frame.drop(
        columns=[c for c in frame.columns if "attributes" in c.split(".")]
    )


def soql_console(
    org: Any, access_token: str, query: str, rows: int = 5
) -> widgets.VBox:
    """A SOQL box, a Run button and the first rows of the answer.

    The console runs its first query when it is made, so the answer is part of the
    saved notebook and shows on the static site too; in a live kernel, edit and run.
    """
    text = widgets.Textarea(
        value=query, layout=widgets.Layout(width="100%", height="4em")
    )
    run = widgets.Button(description="Run SOQL", icon="play", button_style="primary")
    status = widgets.HTML()
    output = widgets.Output()

    def execute(_: Any = None) -> None:
        response = org.http.get(
            f"{org.data_url}/query",
            params={"q": text.value},
            headers={"Authorization": f"Bearer {access_token}"},
        )
        output.clear_output()
        body = response.json()
        if response.status_code != 200:
            error = body[0]
            status.value = f"<b>{response.status_code} {error['errorCode']}</b>"
            output.append_stdout(error["message"].strip() + "\n")
            return
        status.value = (
            f"<b>200 OK</b>: totalSize {body['totalSize']}, "
            f"showing {min(rows, len(body['records']))}"
        )
        output.append_display_data(records_frame(body["records"]).head(rows))

    run.on_click(execute)
    execute()
    return widgets.VBox([text, widgets.HBox([run, status]), output])


class BureauAnswer(Exception):  # noqa: N818 - an answer, not a bug
    """The bureau answered, but not with a score."""


def explain_callout_failure(error: Exception) -> str:
    """A failed credit check in words a sales rep understands, with the cause."""
    text = str(error)
    if isinstance(error, BureauAnswer):
        return text
    if "Read timed out" in text or "maximum time allotted" in text:
        return (
            "The credit bureau did not answer in time. Try again in a minute "
            f"({type(error).__name__}: {text})."
        )
    if "Unable to tunnel" in text or "Unexpected end of file" in text:
        return f"The credit bureau cannot be reached right now ({text})."
    return f"The credit check failed: {type(error).__name__}: {text}"


def explain_bureau_answer(answer: Any) -> str:
    """An answer without a score (a problem-details body, say), in words."""
    if isinstance(answer, dict) and "status" in answer:
        detail = answer.get("detail") or ""
        return (
            f"The credit bureau could not run the check ({answer['status']} "
            f"{answer.get('title', '')}). {detail}"
        ).strip()
    return f"The credit bureau sent an answer without a score: {answer!r:.200}"


def credit_check_panel(
    org: Any, account_id: str, run_check: Any, start: bool = True
) -> widgets.VBox:
    """An Account view with a "Run Credit Check" button.

    ``run_check(account)`` is the lab's Apex-like code: it gets the Account's fields and
    returns the bureau's check (a dict with ``score``, ``rating`` and ``riskBand``), or
    raises. The button stays usable after a failure. With ``start``, the panel runs one
    check when it is made, so its answer is saved with the notebook and shows on the
    static site.
    """
    account_type = org.schema.get("Account")
    row = org.store.find(account_type, account_id) or {}
    header = widgets.HTML(
        f"<b>{row.get('Name', account_id)}</b> · {row.get('Industry') or ''} · "
        f"{row.get('BillingCity') or ''}, {row.get('BillingCountry') or ''}"
    )
    button = widgets.Button(
        description="Run Credit Check", icon="search", button_style="primary"
    )
    progress = widgets.IntProgress(
        value=0, min=0, max=1, bar_style="info", layout=widgets.Layout(width="160px")
    )
    result = widgets.HTML("<i>No credit check yet.</i>")

    def run(_: Any = None) -> None:
        button.disabled = True
        progress.value, progress.bar_style = 0, "info"
        result.value = "<i>Calling the credit bureau…</i>"
        try:
            with org.apex.transaction():
                answer = run_check(dict(org.store.find(account_type, account_id) or {}))
            if not isinstance(answer, dict) or "score" not in answer:
                raise BureauAnswer(explain_bureau_answer(answer))
            result.value = (
                f"Score <b>{answer['score']}</b> · rating <b>{answer['rating']}</b> · "
                f"risk {answer['riskBand'].replace('_', ' ').lower()}"
            )
            progress.bar_style = "success"
        except Exception as error:  # any failure is shown, never raised into the page
            result.value = (
                f"<span style='color:#b00020'>{explain_callout_failure(error)}</span>"
            )
            progress.bar_style = "danger"
        finally:
            progress.value = 1
            button.disabled = False

    button.on_click(run)
    if start:
        run()
    return widgets.VBox([header, widgets.HBox([button, progress]), result])
