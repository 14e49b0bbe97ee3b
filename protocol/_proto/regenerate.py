"""Regenerate ``export_pb2.py`` and ``export_pb2.pyi`` from ``export.proto`` (``make proto``).

Needs the dev extra (grpcio-tools, which bundles protoc). ``generate()`` returns the files'
text so the staleness test can compare without writing.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
PROTO = HERE / "export.proto"
OUTPUTS = ("export_pb2.py", "export_pb2.pyi")


def generate() -> dict[str, str]:
    from grpc_tools import protoc  # dev dependency only

    with tempfile.TemporaryDirectory() as out:
        status = protoc.main(["protoc", f"-I{HERE}", f"--python_out={out}", f"--pyi_out={out}", str(PROTO)])
        if status != 0:
            raise RuntimeError(f"protoc failed with status {status}")
        return {name: (Path(out) / name).read_text() for name in OUTPUTS}


def main() -> int:
    for name, text in generate().items():
        (HERE / name).write_text(text)
        print(f"wrote {HERE / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
