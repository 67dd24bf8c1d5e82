"""Build hook: ship ``manifests/channels.toml`` (kept at the top level for people to edit and
review) inside the package as ``realsync_build/data/channels.toml``, so a wheel install
(non-editable) has the default channel list.  Everything else is in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PACKAGE_DATA_COPIES = {"manifests/channels.toml": "realsync_build/data/channels.toml"}


class BuildPyWithManifests(build_py):
    def run(self):
        super().run()
        here = Path(__file__).resolve().parent
        for src, dst in PACKAGE_DATA_COPIES.items():
            target = Path(self.build_lib) / dst
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(here / src, target)


setup(cmdclass={"build_py": BuildPyWithManifests})
