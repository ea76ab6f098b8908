"""The one guard around the app's event handlers: user errors become a clean ``gr.Error``, never a traceback."""

from __future__ import annotations

import functools
import html
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from ettin.errors import UserError

__all__ = ["guard"]

logger = logging.getLogger("ettin.app")

F = TypeVar("F", bound=Callable[..., Any])


OUT_OF_MEMORY = "out of memory: choose a smaller model, a smaller K or a smaller corpus"


def _as_text(message: str) -> str:
    """The message with ``&``, ``<`` and ``>`` escaped: Gradio renders an error's message as HTML, and it may quote the
    user's input."""
    return html.escape(message, quote=False)


def _is_out_of_memory(exc: Exception) -> bool:
    """torch's allocator failures (``torch.OutOfMemoryError``, or a ``RuntimeError`` saying so on CPU)."""
    return type(exc).__name__ == "OutOfMemoryError" or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
    )


def guard(fn: F) -> F:
    """Wrap a handler so every refusal reaches the user as one line (a message in the UI, an error over the API).

    A :class:`~ettin.errors.UserError` keeps its message; running out of memory says what to make smaller; anything else
    is logged server-side with its traceback and reported as ``unexpected error (Type): message``.
    """
    import gradio as gr

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except UserError as exc:
            raise gr.Error(_as_text(str(exc))) from None
        except MemoryError:
            raise gr.Error(OUT_OF_MEMORY) from None
        except Exception as exc:  # noqa: BLE001 - logged server-side; the user gets one line
            if _is_out_of_memory(exc):
                logger.warning("out of memory in %s: %s", fn.__name__, exc)
                raise gr.Error(OUT_OF_MEMORY) from None
            logger.exception("unexpected error in %s", fn.__name__)
            raise gr.Error(_as_text(f"unexpected error ({type(exc).__name__}): {str(exc)[:200]}")) from None

    return wrapper  # type: ignore[return-value]
