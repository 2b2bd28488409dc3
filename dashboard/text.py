"""Run-derived text on the page: always as text, never as Markdown or HTML.

Everything a run wrote (avatar names, run ids, scenario names, places, dialogue, memories, evidence) is
data from a simulation, and an LLM or a hostile config can put anything there. Streamlit's Markdown
would turn ``![x](http://host/x.png)`` into an image the browser fetches, ``:material/...:`` into icons
and any URL into a link; escaping cannot prevent the last one (its autolinks are found after escapes are
resolved). So run text never goes through Markdown: it is either passed to elements that show text as
it is (``st.text``, dataframes, selectbox options, ``st.json``; not ``st.metric``, whose value is
Markdown too: use :func:`metric`), or placed into a fixed
HTML template by :func:`html`, which escapes every value (``markupsafe``), shown with :func:`show`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import streamlit as st
from markupsafe import Markup

__all__ = ["Markup", "bullets", "caption", "heading", "html", "metric", "show"]

_CAPTION_STYLE = "font-size: 0.875rem; color: rgba(49, 51, 63, 0.6); margin: 0 0 0.5rem 0;"


def html(template: str, *values: object) -> Markup:
    """``template`` (fixed HTML written here, with ``{}`` slots) with every value escaped as text.

    A value that is already :class:`Markup` (made by this function) is inserted as it is, so fragments
    compose; anything else, whatever it contains, shows as the characters it is.
    """
    return Markup(template).format(*(v if isinstance(v, Markup) else str(v) for v in values))


def show(fragment: Markup, where: Any = st) -> None:
    """Draw a fragment made by :func:`html` (only those: a plain ``str`` is refused), in ``where``."""
    if not isinstance(fragment, Markup):
        raise TypeError("dashboard.text.show takes a fragment made by dashboard.text.html")
    where.html(str(fragment))


def metric(where: Any, label: str, value: object) -> None:
    """A figure like ``st.metric`` whose value is run text (a place, a role), shown as text."""
    show(
        html(
            '<div><p style="{}">{}</p><p style="font-size: 2.25rem; line-height: 1.2; margin: 0;'
            ' overflow: hidden; text-overflow: ellipsis; white-space: nowrap">{}</p></div>',
            _CAPTION_STYLE,
            label,
            value,
        ),
        where,
    )


def caption(fragment: Markup) -> None:
    """A caption line (small, grey) made of a fragment."""
    show(html('<p class="mv-caption" style="{}">{}</p>', _CAPTION_STYLE, fragment))


def heading(text: object) -> None:
    """A sub-heading whose words come from the run."""
    show(html("<h3>{}</h3>", text))


def bullets(items: Iterable[Markup]) -> None:
    """A bulleted list of fragments (the dialogue feed, memories)."""
    show(html("<ul>{}</ul>", Markup("").join(html("<li>{}</li>", item) for item in items)))
