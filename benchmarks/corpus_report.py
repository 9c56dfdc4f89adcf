"""The multitrack corpus in numbers: pieces, hours and notes per style, source and
instrument family (GM program // 8, or drums), from the built corpus's manifest.json.

    python benchmarks/corpus_report.py [--folder=DIR]

Without --folder it reads data_dir()/multitrack (build it first with
`build_multitrack_corpus()`, see musiczoo.pipelines.readers.multitrack). The last line
printed is one JSON object (the whole report).
"""
import argparse
import json
import sys

from musiczoo.pipelines.readers.multitrack import corpus_report, multitrack_dir


def table(rows, header):
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    def numeric(cell):
        return str(cell).replace(",", "").replace(".", "").isdigit()

    lines = ["  ".join(str(c).rjust(w) if numeric(c) else str(c).ljust(w)
                       for c, w in zip(row, widths)).rstrip()
             for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default=None, help="a built corpus (default: "
                        "data_dir()/multitrack)")
    args = parser.parse_args(argv)
    try:
        folder = args.folder or multitrack_dir()
    except FileNotFoundError as e:
        print(e, file=sys.stderr)
        return 1
    report = corpus_report(folder)
    print(f"multitrack corpus {folder}: {report['pieces']} pieces, {report['hours']:.1f} "
          f"hours, {report['notes']:,} notes (built in {report['build_seconds']} s)\n")
    print(table([(name, s["pieces"], f"{s['hours']:.2f}", f"{s['notes']:,}",
                  ", ".join(f"{k} {v}" for k, v in sorted(
                      s["instruments"].items(), key=lambda kv: -kv[1])))
                 for name, s in report["styles"].items()],
                ("style", "pieces", "hours", "notes", "instruments (pieces using each)")))
    print()
    print(table([(name, s["pieces"], f"{s['hours']:.2f}")
                 for name, s in sorted(report["sources"].items())],
                ("source", "pieces", "hours")))
    print()
    print(table([(name, i["pieces"], f"{i['notes']:,}")
                 for name, i in sorted(report["instruments"].items(),
                                       key=lambda kv: -kv[1]["notes"])],
                ("instrument", "pieces", "notes")))
    print(json.dumps(report, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
