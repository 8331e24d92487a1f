"""Run by the host's Python in SSH mode (as `python -c`, since nothing is on the host yet).

`extract`: the batch's tar stream on stdin is unpacked into the working directory.
`pack NAME...`: the named result files of each paper directory of the working directory go to stdout as a tar stream
(regular files only: a script cannot smuggle out a link to a file outside its directory).
"""

import os
import sys
import tarfile


def extract() -> None:
    with tarfile.open(fileobj=sys.stdin.buffer, mode="r|gz") as tar:
        tar.extractall(".", **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))


def pack(names: list[str]) -> None:
    with tarfile.open(fileobj=sys.stdout.buffer, mode="w|gz") as tar:
        for paper in sorted(os.listdir(".")):
            for name in names:
                path = os.path.join(paper, name)
                if os.path.isfile(path) and not os.path.islink(path) and not os.path.islink(paper):
                    tar.add(path)


if __name__ == "__main__":
    if sys.argv[1] == "extract":
        extract()
    else:
        pack(sys.argv[2:])
