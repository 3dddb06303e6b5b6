"""Server classpaths resolved from Maven Central through the project's own pom files.

Each pom in ``poms/`` names one server artifact; its runtime dependencies are copied into
``<cache>/lib/<name>-<version>/``. A completion marker is written only after Maven succeeded,
so a cache that holds the marker is complete and Maven is not run again.
"""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

POM_NAMESPACE = {"m": "http://maven.apache.org/POM/4.0.0"}
COMPLETE_MARKER = ".complete"


class MavenError(RuntimeError):
    """Maven is missing or could not resolve a server's classpath."""


@dataclass(frozen=True)
class ServerArtifact:
    """One server distribution: a pom file shipped in the package and the version it pins."""

    name: str
    pom_text: str
    version: str

    def lib_dir(self, cache_dir: Path) -> Path:
        return cache_dir / "lib" / f"{self.name}-{self.version}"


def pom_version(pom_text: str) -> str:
    """The ``server.version`` property of a pom: the single place a server version is set."""
    root = ET.fromstring(pom_text)
    node = root.find("m:properties/m:server.version", POM_NAMESPACE)
    if node is None or not (node.text or "").strip():
        raise MavenError("pom has no <properties><server.version>")
    return (node.text or "").strip()


def load_artifact(name: str) -> ServerArtifact:
    """The artifact described by ``poms/<name>.xml``."""
    pom_text = resources.files(__package__).joinpath("poms", f"{name}.xml").read_text()
    return ServerArtifact(name=name, pom_text=pom_text, version=pom_version(pom_text))


def is_resolved(lib_dir: Path) -> bool:
    return (lib_dir / COMPLETE_MARKER).is_file()


def maven_command(pom: Path, lib_dir: Path, m2_dir: Path) -> list[str]:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise MavenError("`mvn` (Apache Maven) is not on PATH; install it to download the servers")
    return [
        mvn,
        "-q",
        "-B",
        "-Dstyle.color=never",
        f"-Dmaven.repo.local={m2_dir}",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={lib_dir}",
    ]


def resolve(artifact: ServerArtifact, cache_dir: Path, log_path: Path) -> tuple[Path, bool]:
    """The classpath directory of ``artifact``; downloads it first unless the cache is complete.

    Returns ``(lib_dir, downloaded)``. Maven's output goes to ``log_path``.
    """
    lib_dir = artifact.lib_dir(cache_dir)
    if is_resolved(lib_dir):
        return lib_dir, False
    build_dir = cache_dir / "build" / artifact.name
    build_dir.mkdir(parents=True, exist_ok=True)
    pom = build_dir / "pom.xml"
    pom.write_text(artifact.pom_text)
    # A half-copied directory from an interrupted run is discarded, not trusted.
    shutil.rmtree(lib_dir, ignore_errors=True)
    lib_dir.mkdir(parents=True)
    command = maven_command(pom, lib_dir, cache_dir / "m2")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        result = subprocess.run(
            command, cwd=build_dir, stdout=log, stderr=subprocess.STDOUT, check=False
        )
    jars = sorted(p.name for p in lib_dir.glob("*.jar"))
    if result.returncode != 0 or not jars:
        raise MavenError(
            f"Maven could not resolve {artifact.name} {artifact.version} "
            f"(exit {result.returncode}); read {log_path}"
        )
    (lib_dir / COMPLETE_MARKER).write_text("\n".join(jars) + "\n")
    return lib_dir, True
