"""Package list for setuptools (everything else is in pyproject.toml).

``templates/`` is a top-level folder of the repo (the copier template of an experiment) that the wheel carries as
the package ``toolkit.templates``; pyproject.toml alone cannot map a folder outside ``toolkit/`` into it while also
discovering the other packages.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["toolkit*", "registry*"]), "toolkit.templates"],
    package_dir={"toolkit.templates": "templates"},
)
