"""Two fixes to the <script> tags that Jupyter Book 1 and Sphinx 7.4 put on pages.

1. Jupyter Book adds every ``.js`` file under ``_static/`` to every page (at priority
   800). For the offline widget scripts that is wrong twice over: pages without widgets
   would load 3.6 MB of embedder they do not use (before require.js, so with an error),
   and ``widgets-offline.js`` would run after the embedder it must configure. myst-nb's
   ``nb_ipywidgets_js`` (in ``_config.yml``) already adds them, in order, to the pages
   whose notebooks saved widget state, so they are taken out of the global list.

2. Sphinx 7.4 writes each inline script that an extension registers after the builder
   starts (sphinx-togglebutton's and sphinx-thebe's settings) twice: once with the
   file name None, once with "". The second ``const THEBE_JS_URL`` throws a
   SyntaxError on every page. Duplicates are dropped before the page is written.
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx
from sphinx.config import Config


def drop_global_widget_scripts(app: Sphinx, config: Config) -> None:
    widget_scripts = set(config.nb_ipywidgets_js) | {"widgets-offline.js"}

    def is_widget_script(entry: Any) -> bool:
        filename = entry[0] if isinstance(entry, (tuple, list)) else entry
        return filename in widget_scripts or str(filename).startswith("vendor/")

    config.html_js_files = [e for e in config.html_js_files if not is_widget_script(e)]


def drop_duplicate_scripts(
    app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any
) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple] = set()
    unique = []
    for script in scripts:
        attributes = getattr(script, "attributes", {})
        key = (
            getattr(script, "filename", script) or "",
            getattr(script, "priority", 500),
            tuple(sorted(attributes.items())),
        )
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app: Sphinx) -> dict[str, Any]:
    # Before Sphinx converts html_js_files (priority 800).
    app.connect("config-inited", drop_global_widget_scripts, priority=100)
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
