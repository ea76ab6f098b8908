"""The one base class of every error a user can cause and fix (bad id, bad file, bad option).

Each package raises its own subclass with a message that names the problem and the fix; the CLI guard
(:func:`ettin.cli.main`) and the app's guard print exactly that message instead of a traceback.
"""

from __future__ import annotations

__all__ = ["UserError"]


class UserError(Exception):
    """An error caused by the user's input; its message says what is wrong and how to fix it."""
