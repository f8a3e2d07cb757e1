"""Regenerate the vendored REAPI protobuf modules in sodabuild/remote/proto/.

The trimmed .proto sources live in sodabuild/remote/proto/protos/ under their
official paths (so the descriptor file names are the official ones); protoc's
Python output (messages, .pyi stubs, gRPC service stubs) is written flat into
sodabuild/remote/proto/, with the imports between them made package-relative.

The generator version fixes the supported runtime range (see the ``remote``
extra in pyproject.toml): grpcio-tools 1.72.1 bundles protoc 30.0, whose
gencode needs a protobuf runtime >= 6.30.0 (of major 6 or 7), and its service
stubs need grpcio >= 1.72.1. Run it with that exact version:

    python -m venv /tmp/gen && /tmp/gen/bin/pip install grpcio-tools==1.72.1
    /tmp/gen/bin/python scripts/gen_reapi_protos.py          # rewrite
    /tmp/gen/bin/python scripts/gen_reapi_protos.py --check  # compare only
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import re
import sys
import tempfile
from pathlib import Path

GENERATOR = "grpcio-tools"
GENERATOR_VERSION = "1.72.1"

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "sodabuild" / "remote" / "proto"
SRC = OUT / "protos"
PROTOS = [
    "google/rpc/status.proto",
    "google/bytestream/bytestream.proto",
    "build/bazel/remote/execution/v2/remote_execution.proto",
]
HEADER = "# Vendored: regenerate with scripts/gen_reapi_protos.py (grpcio-tools {v}).\n"

# `from google.rpc import status_pb2 as x` -> `from . import status_pb2 as x` for our
# own modules; google.protobuf's well-known types come from the protobuf runtime.
_OWN_IMPORT = re.compile(
    r"^from (google\.rpc|google\.bytestream|build\.bazel\.remote\.execution\.v2) import ",
    re.MULTILINE,
)
PACKAGE = "sodabuild.remote.proto"
_MODULE_NAME = re.compile(r"(BuildTopDescriptorsAndMessages\(DESCRIPTOR, )'[\w.]*\.(\w+_pb2)'")


def generate() -> dict[str, str]:
    """Run protoc on the sources; return {file name: text} of the flat output."""
    try:
        version = importlib.metadata.version(GENERATOR)
    except importlib.metadata.PackageNotFoundError:
        sys.exit(f"{GENERATOR}=={GENERATOR_VERSION} is not installed (see this script's docstring)")
    if version != GENERATOR_VERSION:
        sys.exit(f"found {GENERATOR} {version}; the vendored code is made with {GENERATOR_VERSION}")
    protoc = importlib.import_module("grpc_tools.protoc")
    well_known = Path(str(protoc.__file__)).parent / "_proto"
    result: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            "protoc",
            f"-I{SRC}",
            f"-I{well_known}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
            *PROTOS,
        ]
        if protoc.main(args) != 0:
            sys.exit("protoc failed")
        for path in sorted(Path(tmp).rglob("*.py*")):
            if path.suffix not in (".py", ".pyi"):
                continue
            text = path.read_text()
            if path.name.endswith("_pb2_grpc.py") and "class " not in text:
                continue  # a proto without services: nothing but imports
            text = _OWN_IMPORT.sub("from . import ", text)
            # the messages' __module__ is the module they really live in
            text = _MODULE_NAME.sub(rf"\1'{PACKAGE}.\2'", text)
            result[path.name] = HEADER.format(v=GENERATOR_VERSION) + text
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args()
    files = generate()
    stale = [
        name
        for name, text in files.items()
        if not (OUT / name).exists() or (OUT / name).read_text() != text
    ]
    if args.check:
        for name in stale:
            print(f"out of date: sodabuild/remote/proto/{name}")
        return 1 if stale else 0
    for name in stale:
        (OUT / name).write_text(text := files[name])
        print(f"wrote sodabuild/remote/proto/{name} ({len(text)} chars)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
