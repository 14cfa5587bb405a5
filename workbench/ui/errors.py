"""The one place where exceptions become UI messages: a gr.Error naming the field, never a traceback."""
from __future__ import annotations

import functools
import html
import logging

import gradio as gr

from workbench.ui.state import Unavailable
from workbench.ui.validate import InputError, from_library

log = logging.getLogger(__name__)
INTERNAL = ("Something went wrong on the server while handling this request; it was logged. "
            "The app is still running: change the input or try again.")


def _message(err: Exception) -> str:
    return html.escape(str(err), quote=False)  # shown as HTML: user text must not become markup


def to_ui_error(err: Exception) -> gr.Error:
    """The gr.Error for an exception raised while handling a request (messages are HTML-escaped)."""
    if isinstance(err, (InputError, Unavailable)):
        text = str(err) if isinstance(err, InputError) else f"{err.field}: {err}"
        return gr.Error(html.escape(text, quote=False), print_exception=False)
    if isinstance(err, ValueError):  # the library's own validation: token cap, empty target, record fields
        return gr.Error(_message(from_library(err)), print_exception=False)
    log.error("unexpected error in a UI handler", exc_info=err)
    return gr.Error(INTERNAL, print_exception=False)


def ui_errors(fn):
    """Decorator for event handlers: every failure reaches the user as a gr.Error, the app keeps running."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except Exception as err:  # noqa: BLE001 - the UI boundary: log it, show a clean message
            raise to_ui_error(err) from err
    return wrapper
