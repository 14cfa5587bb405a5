"""The one place where exceptions become UI messages: a gr.Error naming the field, never a traceback.

`ErrorNotes` remembers the last message per browser session, so that the event chained after a failed one
(`.failure`) can write it in place of the outputs (no stale results under the error badges).
"""
from __future__ import annotations

import functools
import html
import logging
import threading
from collections import OrderedDict
from contextlib import contextmanager

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


class ErrorNotes:
    """The last UI error message per browser session (bounded: the oldest sessions are forgotten)."""

    def __init__(self, size: int = 1024):
        self._notes: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    @staticmethod
    def _key(request) -> str:
        return str(getattr(request, "session_hash", None) or "")

    @contextmanager
    def noted(self, request):
        """Run a handler body: any failure becomes a gr.Error whose message is remembered for `request`."""
        try:
            yield
        except gr.Error as err:
            self.remember(request, err.message)
            raise
        except Exception as err:  # noqa: BLE001 - the UI boundary, as in ui_errors
            ui = to_ui_error(err)
            self.remember(request, ui.message)
            raise ui from err

    def remember(self, request, message: str) -> None:
        with self._lock:
            self._notes[self._key(request)] = message
            self._notes.move_to_end(self._key(request))
            while len(self._notes) > self._size:
                self._notes.popitem(last=False)

    def take(self, request, default: str) -> str:
        """The message remembered for `request` (forgotten once taken), else `default`."""
        with self._lock:
            return self._notes.pop(self._key(request), default)
