"""Build step: compile the LD_PRELOAD shim (uipc/preload/*.c) with gcc into
the package, next to its sources.  Everything else is in pyproject.toml."""
import importlib.util
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

ROOT = Path(__file__).resolve().parent


class BuildWithShim(build_py):
    def run(self):
        super().run()
        spec = importlib.util.spec_from_file_location("uipc_preload_build",
                                                      ROOT / "uipc" / "preload" / "build.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        mod.build(Path(self.build_lib) / "uipc" / "preload")


class BinaryDistribution(Distribution):
    """The wheel holds a compiled library: it is platform-specific."""

    def has_ext_modules(self):
        return True


setup(cmdclass={"build_py": BuildWithShim}, distclass=BinaryDistribution)
