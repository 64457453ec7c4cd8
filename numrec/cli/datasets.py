"""``numrec-datasets``: what is installed - plugins with their versions, the data sets each
provides with their options - and what is already in the local data cache.

    numrec-datasets            # a readable listing
    numrec-datasets --json     # the same, machine-readable
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from . import common
from .common import Parser

PROG = "numrec-datasets"


def build_parser() -> Parser:
    parser = Parser(
        prog=PROG,
        description="List the installed dataset plugins, their data sets and options, and "
        "what is cached locally.",
        epilog="environment: NUMREC_DATA (the cache folder), NUMREC_MIRROR (a mirror tried "
        "first), NUMREC_LOAD_PLUGINS (outside plugins to load; empty: none)",
    )
    parser.add_argument("--json", action="store_true", help="print the listing as JSON")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    return parser


def main(argv: list[str] | None = None) -> int:
    return common.run(PROG, _main, argv)


def _main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    listing = collect()
    if args.json:
        print(json.dumps(listing, indent=2))
    else:
        print("\n".join(text(listing)))
    return common.EXIT_OK


def collect() -> dict:
    """Plugins, their data sets with options, and the cache contents, as plain values."""
    from .. import __version__
    from ..download import data_root
    from ..plugins import dataset_specs, list_plugins

    root = data_root()
    specs = dataset_specs()
    plugins = []
    for info in list_plugins():
        datasets = []
        for name in info["datasets"]:
            spec = specs[name]
            flags = train_flags(name)
            datasets.append({
                "name": name,
                "description": spec.description,
                "options": [_option(o, flags) for o in spec.options],
                "cached": _cached(root / name),
            })  # fmt: skip
        plugins.append({**{k: info[k] for k in ("name", "version", "kind", "error")},
                        "datasets": datasets})  # fmt: skip
    known = set(specs)
    other = sorted(p.name for p in _folders(root) if p.name not in known)
    return {
        "numrec_version": __version__,
        "data_root": str(root),
        "load_plugins": os.environ.get("NUMREC_LOAD_PLUGINS"),
        "plugins": plugins,
        "other_cache": [{"name": n, **_cached(root / n)} for n in other],
    }


def train_flags(dataset: str) -> dict[str, str]:
    """Option name -> the flag numrec-train and numrec-eval take it as (a clash with one
    of their own flags is prefixed with the data set's name, e.g. --csv-seed)."""
    from .train import build_parser

    parser, _ = build_parser(dataset)
    return parser.dataset_flags


def _option(opt, flags: dict[str, str]) -> dict:
    from ..plugins import _type_name

    default = opt.default
    if isinstance(default, Path):
        default = str(default)
    return {
        "name": opt.name,
        "flag": flags.get(opt.name, common.flag_of(opt.name)),
        "type": _type_name(opt.type),
        "default": default,
        "choices": list(opt.choices) if opt.choices else None,
        "help": opt.help,
    }


def _folders(root: Path) -> list[Path]:
    try:
        return [p for p in root.iterdir() if p.is_dir()]
    except OSError:
        return []


def _cached(folder: Path) -> dict:
    """The files in ``folder`` (a data set's part of the cache) and their total size."""
    files = []
    try:
        entries = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    except OSError:
        entries = []
    for path in entries:
        try:
            files.append({"file": str(path.relative_to(folder)), "bytes": path.stat().st_size})
        except OSError:
            continue
    return {"folder": str(folder), "files": files, "bytes": sum(f["bytes"] for f in files)}


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


def text(listing: dict) -> list[str]:
    lines = [f"numrec {listing['numrec_version']}; data cache: {listing['data_root']}"]
    if listing["load_plugins"] is not None:
        lines.append(f"NUMREC_LOAD_PLUGINS={listing['load_plugins']!r}")
    for plugin in listing["plugins"]:
        lines.append("")
        version = plugin["version"] or "version unknown"
        lines.append(f"plugin {plugin['name']} {version} ({plugin['kind']})")
        if plugin["error"]:
            lines.append(f"  BROKEN: {plugin['error']}")
        for ds in plugin["datasets"]:
            lines.append(f"  {ds['name']}: {ds['description']}")
            for opt in ds["options"]:
                extra = f"{opt['type']}"
                if opt["choices"]:
                    extra += f", one of {'/'.join(map(str, opt['choices']))}"
                if opt["default"] is not None:
                    extra += f", default {opt['default']}"
                lines.append(f"      {opt['flag']} ({extra}): {opt['help']}")
            cached = ds["cached"]
            if cached["files"]:
                lines.append(
                    f"    cached: {len(cached['files'])} file(s), {_size(cached['bytes'])} "
                    f"in {cached['folder']}"
                )
            else:
                lines.append("    cached: nothing")
    if listing["other_cache"]:
        lines.append("")
        lines.append("other cache folders:")
        for entry in listing["other_cache"]:
            lines.append(
                f"  {entry['name']}: {len(entry['files'])} file(s), {_size(entry['bytes'])}"
            )
    return lines


if __name__ == "__main__":
    sys.exit(main())
