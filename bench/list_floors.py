"""The floors (always offset 0, the most common class) of published lists, from the lists alone.

For each list: the segments its protocol selects (default ``--protocol paper --cap 2000``: what the
StreamSync loader evaluates; the skip list found beside it, or above a ``data/`` folder, as
``split --from-list`` finds it) and the two constant predictors' acc, acc +/-1, ROC-AUC and mAP on
them (:mod:`realsync_build.streamsync.baselines`).  No media, no model.  The figures in
``docs/benchmark.md`` come from::

    git clone https://github.com/jvoas655/StreamSync /tmp/StreamSync
    PYTHONPATH=$PWD python bench/list_floors.py /tmp/StreamSync/data/sports_and_news_{normal,uniform}.{evaluation,test}.csv

Without arguments: the shared evaluation list (``../shared/testdata/realsync_lists``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from realsync_build import testdata
from realsync_build.streamsync.baselines import list_floors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("lists", nargs="*", type=Path, help="published .csv lists (their .json beside them)")
    ap.add_argument("--protocol", default="paper", choices=("paper", "all"))
    ap.add_argument("--cap", type=int, default=2000, help="0: no cap")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    paths = args.lists or [testdata.testdata_file("realsync_lists/sports_and_news_normal.evaluation.csv")]
    if not all(paths):
        raise SystemExit("no list given and the shared list is absent (set REALSYNC_TESTDATA)")
    out = []
    print(f"{'list':42} {'skip list':48} {'n':>5}  {'always 0: acc / +/-1':>22}  {'most common: class, acc / +/-1':>32}  mAP")
    for p in paths:
        f = list_floors(p, protocol=args.protocol, cap=args.cap or None)
        z, c = f["always_zero"], f["most_common"]
        print(f"{f['list']:42} {str(f['skip_list']):48} {f['n']:5d}  {z['acc']:10.3f} / {z['acc_pm1']:.3f}  "
              f"{c['offset_s']:+6.1f} s {c['acc']:10.3f} / {c['acc_pm1']:.3f}  {z['map']:.3f}")
        out.append(f)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
