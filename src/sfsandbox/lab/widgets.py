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
