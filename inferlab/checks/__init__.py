"""Exercise checks: one module per chapter, e.g. ``from inferlab.checks import ch01``.

``ch01.check_softmax(softmax)`` runs *your* function on fresh inputs, compares it with
``inferlab.ops`` and prints one line on success; otherwise it raises
:class:`~inferlab.errors.CheckFailed` whose message tells you what went wrong and why.
The shared machinery (running cases, comparing, diagnosing known mistakes) is in
:mod:`inferlab.checks.core`.
"""

from inferlab.errors import CheckFailed

__all__ = ["CheckFailed"]
