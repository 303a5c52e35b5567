"""Package metadata comes from settings.ini, the single place nbdev and pip both read."""
from configparser import ConfigParser
import setuptools

cfg = ConfigParser(delimiters=["="])
cfg.read("settings.ini", encoding="utf-8")
cfg = cfg["DEFAULT"]

setuptools.setup(
    name=cfg["lib_name"],
    version=cfg["version"],
    description=cfg["description"],
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    author=cfg["author"],
    license="Apache-2.0",
    python_requires=">=" + cfg["min_python"],
    # data/ holds the bundled simplex definitions: a package of JSON files only
    packages=[cfg["lib_path"], cfg["lib_path"] + ".data"],
    package_data={cfg["lib_path"] + ".data": ["*.json"]},
    install_requires=cfg.get("requirements", "").split(),
    extras_require={extra: cfg.get(f"{extra}_requirements", "").split() for extra in ("dev", "ray")},
    entry_points={
        "console_scripts": cfg.get("console_scripts", "").split(),
        "nbdev": [f'{cfg["lib_path"]}={cfg["lib_path"]}._modidx:d'],
    },
    zip_safe=False,
)
