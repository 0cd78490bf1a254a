"""Run every module's doctests, and require a runnable example on every public name."""

import doctest
import importlib
import inspect
import pkgutil

import pytest

import plait


def all_modules():
    names = ["plait"]
    for info in pkgutil.walk_packages(plait.__path__, prefix="plait."):
        leaf = info.name.rsplit(".", 1)[-1]
        # The repository root is the package root in editable installs: skip non-package files.
        if info.name.count(".") == 1 and leaf not in {
            "effects", "handlers", "inference", "gradients", "ext", "errors", "bridges"
        }:
            continue
        names.append(info.name)
    return names


@pytest.mark.parametrize("module_name", all_modules())
def test_doctests(module_name):
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, module_name):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {module_name}"


def public_objects():
    seen = set()
    for module_name in all_modules():
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if not (inspect.isfunction(obj) or inspect.isclass(obj) or inspect.isbuiltin(obj)):
                continue
            if id(obj) in seen or issubclass_safe(obj, BaseException):
                continue
            seen.add(id(obj))
            yield f"{module_name}.{name}", obj


def issubclass_safe(obj, cls):
    return inspect.isclass(obj) and issubclass(obj, cls)


def test_every_public_function_and_class_has_an_example():
    missing = [name for name, obj in public_objects() if ">>>" not in (obj.__doc__ or "")]
    assert not missing, f"public names without a doctest example: {missing}"
