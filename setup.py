"""Build script: maps the repository folders onto the ``plait`` package and compiles ext/."""

from __future__ import annotations

import glob
from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, find_packages, setup
from setuptools.command.build_py import build_py

# The repository root *is* the ``plait`` package directory, so setuptools would
# otherwise install every root-level .py file (setup.py, scratch scripts) as a
# ``plait`` module.  Only these root modules belong to the package.
ROOT_MODULES = {"__init__", "errors"}
SUBPACKAGE_ROOTS = ("effects", "handlers", "inference", "gradients", "ext", "bridges")


class BuildPy(build_py):
    """Install only the intended root-level modules of ``plait``."""

    def find_package_modules(self, package, package_dir):  # type: ignore[override]
        modules = super().find_package_modules(package, package_dir)
        if package == "plait":
            modules = [m for m in modules if m[1] in ROOT_MODULES]
        return modules


subpackages = [
    f"plait.{name}"
    for name in find_packages(include=[f"{root}*" for root in SUBPACKAGE_ROOTS])
]

# Every ext/*.pyx becomes plait.ext.<name>.
# numpy's C random library: the compiled scalar draws of ext/_interpreter.pyx
# call the very routines numpy's Generator methods call.
NUMPY_RANDOM_LIB = str(Path(numpy.__file__).parent / "random" / "lib")
LINKS_NUMPY_RANDOM = {"_interpreter"}

extensions = [
    Extension(
        f"plait.ext.{Path(source).stem}",
        [source],
        include_dirs=[numpy.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=["-O3"],
        **({"library_dirs": [NUMPY_RANDOM_LIB], "libraries": ["npyrandom"]}
           if Path(source).stem in LINKS_NUMPY_RANDOM else {}),
    )
    for source in sorted(glob.glob("ext/*.pyx"))
]

setup(
    packages=["plait", *subpackages],
    package_dir={"plait": "."},
    # ext/*.pyi: the type stubs of the compiled modules (PEP 561, with py.typed).
    package_data={"plait": ["py.typed"], "plait.ext": ["*.pyx", "*.pxd", "*.pyi"]},
    exclude_package_data={"plait": ["*.c"]},
    ext_modules=cythonize(
        extensions,
        include_path=["ext"],  # ext/*.pxd: inline helpers shared by the kernels
        compiler_directives={
            "language_level": "3",
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    ),
    cmdclass={"build_py": BuildPy},
    zip_safe=False,
)
