"""Run-derived text on the page: always as text, never as Markdown or HTML.

Everything a run wrote (avatar names, run ids, scenario names, places, dialogue, memories, evidence) is
data from a simulation, and an LLM or a hostile config can put anything there. Streamlit's Markdown
would turn ``![x](http://host/x.png)`` into an image the browser fetches, ``:material/...:`` into icons
and any URL into a link; escaping cannot prevent the last one (its autolinks are found after escapes are
resolved). So run text never goes through Markdown: it is either passed to elements that show text as
it is (``st.text``, dataframes, selectbox options, metric values, ``st.json``), or placed into a fixed
HTML template by :func:`html`, which escapes every value (``markupsafe``), shown with :func:`show`.
"""

from __future__ import annotations

from collections.abc import Iterable

import streamlit as st
from markupsafe import Markup

__all__ = ["Markup", "bullets", "caption", "heading", "html", "show"]

_CAPTION_STYLE = "font-size: 0.875rem; color: rgba(49, 51, 63, 0.6); margin: 0 0 0.5rem 0;"


def html(template: str, *values: object) -> Markup:
    """``template`` (fixed HTML written here, with ``{}`` slots) with every value escaped as text.

    A value that is already :class:`Markup` (made by this function) is inserted as it is, so fragments
    compose; anything else, whatever it contains, shows as the characters it is.
    """
    return Markup(template).format(*(v if isinstance(v, Markup) else str(v) for v in values))


def show(fragment: Markup) -> None:
    """Draw a fragment made by :func:`html` (only those: a plain ``str`` is refused)."""
    if not isinstance(fragment, Markup):
        raise TypeError("dashboard.text.show takes a fragment made by dashboard.text.html")
    st.html(str(fragment))


def caption(fragment: Markup) -> None:
    """A caption line (small, grey) made of a fragment."""
    show(html('<p class="mv-caption" style="{}">{}</p>', _CAPTION_STYLE, fragment))


def heading(text: object) -> None:
    """A sub-heading whose words come from the run."""
    show(html("<h3>{}</h3>", text))


def bullets(items: Iterable[Markup]) -> None:
    """A bulleted list of fragments (the dialogue feed, memories)."""
    show(html("<ul>{}</ul>", Markup("").join(html("<li>{}</li>", item) for item in items)))
