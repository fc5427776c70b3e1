#!/usr/bin/env bash
# Fetches MovieLens-100k as the `recbole==1.2.1` wheel ships it
# (recbole/dataset_example/ml-100k/: ml-100k.inter, ml-100k.item, ml-100k.user)
# into DIR, outside the repository: the data is never committed.
#
#   bench/fetch-movielens.sh /work/data/ml-100k
#   steward eval recsys --movielens /work/data/ml-100k
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
dir=$1
repo_root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
case "$dir/" in
    "$repo_root"/*) echo "refusing to put the data inside the repository ($dir)" >&2; exit 2 ;;
esac

python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" -m pip download --quiet recbole==1.2.1 --no-deps -d "$work"
wheel=$(ls "$work"/recbole-1.2.1-*.whl)
"$python" - "$wheel" "$dir" <<'PY'
import sys, zipfile, os
wheel, target = sys.argv[1], sys.argv[2]
prefix = "recbole/dataset_example/ml-100k/"
with zipfile.ZipFile(wheel) as archive:
    names = [n for n in archive.namelist() if n.startswith(prefix) and not n.endswith("/")]
    if not names:
        sys.exit("the wheel has no " + prefix)
    for name in names:
        out = os.path.join(target, name[len(prefix):])
        with archive.open(name) as src, open(out, "wb") as dst:
            dst.write(src.read())
        print(out)
PY
