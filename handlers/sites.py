"""Name the site of an error raised in the model's own code, before the run loop saw the effect.

``yield plait.sample("x", plait.Normal(0.0, scale))`` builds the distribution
before ``plait.sample`` is called, so a bad ``scale`` raises in the
distribution's constructor, which does not know the address.  When such an
error leaves the model's generator, the run loop calls :func:`name_site`: it
finds the call that raised in the model's frame (Python records the exact
expression of every instruction), looks for the ``sample``/``observe`` call
around it in the source, and evaluates that call's address argument in the
frame, if it is a plain expression (names, constants, tuples, f-strings,
arithmetic: nothing that calls a function).  The error then reads
``... (at site 'x')``.  When the source or such a call cannot be found, the
error is left as it is: the traceback still ends at the model's line.

Errors raised while an effect is answered (a density evaluated by a
handler) are named by the run loop directly, from the effect.
"""

from __future__ import annotations

import ast
import functools
import linecache
from collections.abc import Iterator
from typing import Any, Optional

from ..errors import InvalidParameterError, at_site

__all__ = ["name_site", "site_error"]

#: Calls whose first argument is a site's address.
_SITE_CALLS = ("sample", "observe")
#: Expression nodes an address may be built of to be evaluated (no calls, no side effects).
_PLAIN = (ast.Constant, ast.Name, ast.Load, ast.Tuple, ast.JoinedStr, ast.FormattedValue, ast.BinOp,
          ast.UnaryOp, ast.operator, ast.unaryop, ast.Subscript, ast.Attribute, ast.Slice)
_NOT_FOUND = object()


def site_error(error: BaseException, effect: Any) -> None:
    """Name ``effect``'s address in ``error``, raised while answering it (see :func:`plait.errors.at_site`).

    >>> import plait
    >>> error = plait.errors.InvalidParameterError("bad")
    >>> site_error(error, plait.sample("x", plait.Normal(0, 1))); str(error)
    "bad (at site 'x')"
    """
    name = getattr(effect, "name", None)
    if name is not None:
        at_site(error, name)


def name_site(error: BaseException, code: Any) -> None:
    """Name the site in ``error``, a parameter error that left the generator of ``code`` (see the module docstring).

    >>> import plait
    >>> def model():
    ...     yield plait.sample(("x", 1), plait.Normal(0.0, -1.0))
    >>> try:
    ...     plait.simulate(model, seed=0)
    ... except plait.errors.InvalidParameterError as error:
    ...     print(error.address)
    ('x', 1)
    """
    if not isinstance(error, InvalidParameterError) or error.address is not None:
        return
    frames = list(_frames(error))
    ours = [i for i, tb in enumerate(frames) if tb.tb_frame.f_code is code]
    if not ours:
        return
    # The model's frame and the frames it called (``yield from`` sub-models,
    # helpers): the innermost site call around the failing expression wins.
    for tb in reversed(frames[ours[0]:]):
        address = _address_at(tb.tb_frame, tb.tb_lasti)
        if address is not _NOT_FOUND:
            at_site(error, address)
            return


def _frames(error: BaseException) -> Iterator[Any]:
    tb = error.__traceback__
    while tb is not None:
        yield tb
        tb = tb.tb_next


def _address_at(frame: Any, lasti: int) -> Any:
    """The address of the ``sample``/``observe`` call around the instruction at ``lasti``, or _NOT_FOUND."""
    code = frame.f_code
    positions = list(code.co_positions())
    if lasti < 0 or lasti // 2 >= len(positions):
        return _NOT_FOUND
    line, end_line, col, end_col = positions[lasti // 2]
    if line is None or col is None:
        return _NOT_FOUND
    tree = _parse(code.co_filename, frame.f_globals)
    if tree is None:
        return _NOT_FOUND
    argument = _site_argument(tree, (line, col, end_line, end_col))
    if argument is None or not all(isinstance(n, _PLAIN) for n in ast.walk(argument)):
        return _NOT_FOUND
    try:
        return eval(compile(ast.Expression(argument), code.co_filename, "eval"), frame.f_globals, frame.f_locals)
    except Exception:  # noqa: BLE001  (any failure: the address stays unnamed, the error is unchanged)
        return _NOT_FOUND


def _parse(filename: str, module_globals: dict[str, Any]) -> Optional[ast.Module]:
    lines = linecache.getlines(filename, module_globals)
    return _parsed("".join(lines)) if lines else None


@functools.lru_cache(maxsize=16)
def _parsed(source: str) -> Optional[ast.Module]:
    """The syntax tree of a source file (cached: a model that catches such errors in a loop parses once)."""
    try:
        return ast.parse(source)
    except SyntaxError:
        return None


def _site_argument(tree: ast.Module, span: tuple[Any, ...]) -> Optional[ast.expr]:
    """The address argument of the innermost site call that encloses the expression at ``span``."""
    best: Optional[ast.Call] = None
    calls = (n for n in ast.walk(tree) if isinstance(n, ast.Call) and _is_site_call(n) and _encloses(n, span))
    for node in calls:
        if best is None or _encloses(best, _span(node)):
            best = node
    if best is None:
        return None
    if best.args:
        return best.args[0]
    return next((k.value for k in best.keywords if k.arg == "name"), None)


def _is_site_call(node: ast.Call) -> bool:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    return name in _SITE_CALLS


def _span(node: ast.AST) -> tuple[Any, ...]:
    return (node.lineno, node.col_offset, node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]


def _encloses(node: ast.AST, span: tuple[Any, ...]) -> bool:
    line, col, end_line, end_col = _span(node)
    return (line, col) <= (span[0], span[1]) and (span[2], span[3]) <= (end_line, end_col)
