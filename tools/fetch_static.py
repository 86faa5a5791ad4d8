"""Bring the site's JavaScript into _static/vendor/ so the built book works offline.

Training rooms often block CDNs, and myst-nb loads require.js and the Jupyter widgets
embedder from CDNs by default, as sphinxcontrib-mermaid does mermaid.js. This script
fetches the exact versions pinned below with `npm pack` (so npm's own configuration
chooses the registry, and npm checks the registry's integrity metadata), checks each
tarball again against the integrity hash pinned here (the `dist.integrity` npm
publishes for that version), and unpacks only the files the site needs. `_config.yml`
points myst-nb (`nb_ipywidgets_js`) and sphinxcontrib-mermaid (`mermaid_use_local`) at
the copies.

It downloads nothing when the files are already there and match the manifest it wrote
last time, so `make book` stays fast and works offline after the first run.

Usage: python tools/fetch_static.py [--check]
  --check  only verify; exit 1 if anything is missing or altered (no network, no npm).

Fetching needs npm (Node.js) on PATH; once the files are in place it is not needed.
"""

from __future__ import annotations

import argparse
import base64
import fnmatch
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "_static" / "vendor"
MANIFEST = VENDOR / ".manifest.json"  # a dotfile: Sphinx does not publish it
NPM_MISSING = (
    "fetch_static: npm (Node.js) is needed the first time you run `make book`, to "
    "fetch the site's JavaScript (require.js, the Jupyter widgets embedder, mermaid) "
    "into _static/vendor/; after that the book builds offline without it. npm was not "
    "found on PATH. On Debian or Ubuntu install it with `sudo apt-get install npm` "
    "(elsewhere, install Node.js, which includes npm), then run `make book` again."
)


@dataclass(frozen=True)
class NpmAsset:
    """One npm package version and the files of it that the site serves."""

    name: str
    version: str
    integrity: str  # npm's Subresource Integrity string for the tarball (sha512)
    folder: str  # destination under _static/vendor/
    members: tuple[str, ...]  # glob patterns, relative to the tarball's package/ dir
    # Files are unpacked flat (by file name), except those under this folder of the
    # package, which keep their path below it: ES modules import their chunks by path.
    keep_paths_under: str | None = None

    def destination(self, relative: str) -> str:
        """Where a file of the package goes, relative to the asset's folder."""
        prefix = self.keep_paths_under
        if prefix and relative.startswith(prefix):
            return relative[len(prefix) :]
        return Path(relative).name


ASSETS = (
    # AMD loader that the widgets embedder needs (myst-nb's default is 2.3.4 on a CDN).
    NpmAsset(
        name="requirejs",
        version="2.3.8",
        integrity="sha512-7/cTSLOdYkNBNJcDMWf+luFvMriVm7eYxp4BcFCsAX0wF421Vyce5SXP17c+"
        "Jd5otXKGNehIonFlyQXSowL6Mw==",
        folder="requirejs",
        members=("require.js",),
    ),
    # The widgets embedder for ipywidgets 8.1.9: html-manager 1.0.15 bundles
    # @jupyter-widgets/base 6.0.12 and controls 5.0.13, the same versions as the
    # jupyterlab_widgets 3.0.17 that ipywidgets 8.1.9 installs. The font files are
    # Font Awesome, which the widget CSS loads from beside embed-amd.js.
    NpmAsset(
        name="@jupyter-widgets/html-manager",
        version="1.0.15",
        integrity="sha512-5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTop"
        "vFi//SABeNz1yp47bCrJ3CQA==",
        folder="html-manager",
        members=(
            "dist/embed-amd.js",
            "dist/embed.js.LICENSE.txt",
            "dist/*.woff2",
            "dist/*.woff",
            "dist/*.ttf",
            "dist/*.eot",
            "dist/*.svg",
        ),
    ),
    # mermaid.js for the sequence diagrams (sphinxcontrib-mermaid: mermaid_use_local).
    # The ES module build loads one chunk per diagram type from chunks/, on demand.
    NpmAsset(
        name="mermaid",
        version="11.17.2",
        integrity="sha512-V6K3C8EBdEsPFZXSKMJe6ppQOENxuHARr9GvHX4hh47lAbhMRD9qf4oEK7Lo"
        "aRQxULMa80/qt5gHO73aCleBBg==",
        folder="mermaid",
        members=(
            "dist/mermaid.esm.min.mjs",
            "dist/chunks/mermaid.esm.min/*.mjs",
            "LICENSE",
        ),
        keep_paths_under="dist/",
    ),
)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def verify_integrity(data: bytes, integrity: str) -> None:
    """Raise if data does not match an SRI string such as 'sha512-<base64>'."""
    algorithm, _, expected = integrity.partition("-")
    digest = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if digest != expected:
        raise SystemExit(
            f"fetch_static: integrity mismatch: expected {integrity}, "
            f"got {algorithm}-{digest}. Not unpacking."
        )


def installed(asset: NpmAsset, manifest: dict) -> bool:
    """True when the files recorded for this exact version are present and unaltered."""
    entry = manifest.get(asset.folder)
    if not entry or entry.get("package") != f"{asset.name}@{asset.version}":
        return False
    if entry.get("integrity") != asset.integrity or not entry.get("files"):
        return False
    folder = VENDOR / asset.folder
    return all(
        (folder / name).is_file() and sha256(folder / name) == digest
        for name, digest in entry["files"].items()
    )


def npm_pack(label: str) -> bytes:
    """Fetch the tarball of `name@version` with `npm pack` and return its bytes.

    npm picks the registry from its own configuration and checks the tarball against
    the registry's integrity metadata.
    """
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit(NPM_MISSING)
    print(f"fetch_static: fetching {label} with npm pack")
    with tempfile.TemporaryDirectory(prefix="fetch_static-") as tmp:
        command = [npm, "pack", label, "--pack-destination", tmp]
        command += ["--json", "--ignore-scripts", "--loglevel=error"]
        # Run in the temporary folder so npm never reads or writes the course's files.
        result = subprocess.run(
            command, cwd=tmp, stdout=subprocess.PIPE, text=True, check=False
        )
        if result.returncode != 0:
            raise SystemExit(
                f"fetch_static: `npm pack {label}` failed (exit {result.returncode}); "
                "see npm's message above."
            )
        (packed,) = json.loads(result.stdout)
        return (Path(tmp) / packed["filename"]).read_bytes()


def unpack(asset: NpmAsset, tarball: bytes) -> dict[str, str]:
    """Extract the wanted files into the asset's folder; map each path to its sha256."""
    folder = VENDOR / asset.folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)

    files: dict[str, str] = {}
    unmatched = set(asset.members)
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for member in archive.getmembers():
            relative = member.name.split("/", 1)[-1]  # drop the "package/" prefix
            patterns = {p for p in asset.members if fnmatch.fnmatchcase(relative, p)}
            if not member.isfile() or not patterns:
                continue
            unmatched -= patterns
            name = asset.destination(relative)
            data = archive.extractfile(member).read()  # type: ignore[union-attr]
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
            files[name] = hashlib.sha256(data).hexdigest()

    if unmatched:
        label = f"{asset.name}@{asset.version}"
        raise SystemExit(f"fetch_static: {label} has no file matching {unmatched}")
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify only, no network")
    args = parser.parse_args(argv)

    manifest = json.loads(MANIFEST.read_text()) if MANIFEST.is_file() else {}
    changed = False

    for asset in ASSETS:
        label = f"{asset.name}@{asset.version}"
        if installed(asset, manifest):
            print(f"fetch_static: {label} already in _static/vendor/{asset.folder}")
            continue
        if args.check:
            print(f"fetch_static: {label} missing or altered; run make book")
            return 1

        tarball = npm_pack(label)
        verify_integrity(tarball, asset.integrity)
        manifest[asset.folder] = {
            "package": label,
            "integrity": asset.integrity,
            "files": unpack(asset, tarball),
        }
        changed = True

    if changed:
        MANIFEST.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
