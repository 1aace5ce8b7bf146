"""The compiled part of the build (everything else is in pyproject.toml), compiled by Cython and
the machine's C compiler: the online indexes' core, `triage/stores/_index_core.pyx`, and the
tree walker that scores and explains single rows, `models/_forest.pyx`."""

from Cython.Build import cythonize
from setuptools import Extension, setup

setup(
    ext_modules=cythonize(
        [Extension("triage.stores._index_core", ["triage/stores/_index_core.pyx"], extra_compile_args=["-O3"]),
         Extension("models._forest", ["models/_forest.pyx"], extra_compile_args=["-O3"])],
        compiler_directives={"language_level": "3"},
    ),
)
