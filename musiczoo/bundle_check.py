"""Listing the shipped bundles and checking any bundle a user holds (musiczoo_bundles).

A check runs every stage a load runs, and one more: the file format and its SHA-256, the
header against the schema, the model built from its config with every weight restored,
then (where the bundle has one) its golden record recomputed: the same scores on the
recorded inputs and the same notes from the recorded seed.
"""
import dataclasses

from musiczoo import bundle, bundles, golden, registry


@dataclasses.dataclass
class Report:
    path: str
    ok: bool
    detail: str

    def line(self):
        return f"{'ok' if self.ok else 'FAILED'}  {self.path}: {self.detail}"


def check(name_or_path):
    """A Report for one bundle (a path or a shipped name); never raises for bad input."""
    try:
        path = bundles.resolve_bundle(name_or_path)
    except (OSError, ValueError) as error:
        return Report(str(name_or_path), False, str(error))
    try:
        contents = bundle.read_bundle(path, known_families=registry.families())
        model = registry.families()[contents.family].model_class().from_bundle(contents,
                                                                              path=path)
    except (OSError, ValueError) as error:  # BundleError is a ValueError
        return Report(str(path), False, str(error).replace(f"{path}: ", "", 1))
    done = [f"format v{contents.format_version}, checksum and schema valid",
            f"{contents.family}/{contents.config_name} built, "
            f"{len(contents.weights)} weight arrays restored"]
    record = golden.find(path, contents.metadata)
    if record is None:
        done.append("no golden record")
        return Report(str(path), True, "; ".join(done))
    problems = golden.check(model, record, contents.metadata.get("sha256"))
    if problems:
        return Report(str(path), False, "; ".join(done + ["golden record: " + problems[0]]
                                                  + problems[1:3]))
    done.append(f"golden scores equal (largest difference "
                f"{golden.max_difference(model, record):.1e}), fixed-seed notes equal")
    return Report(str(path), True, "; ".join(done))


def check_all(names=None):
    """Reports for `names`, or for every shipped bundle."""
    return [check(name) for name in (names or sorted(bundles.list_bundles()))]


def listing():
    """One block per shipped bundle: name, what it is, what it was trained on."""
    lines = []
    for name, path in sorted(bundles.list_bundles().items()):
        try:
            header = bundle.read_header(path)
        except bundle.BundleError as error:
            lines.append(f"{name}  (unreadable: {error})")
            continue
        meta = header.metadata
        size = header.file_size / 2 ** 20
        lines.append(f"{name}  {header.family}/{header.config_name}, {size:.1f} MiB"
                     + ("" if golden.find(path, meta) is None else ", golden record"))
        for key in ("description", "training_data"):
            if meta.get(key):
                lines.append(f"    {key.replace('_', ' ')}: {meta[key]}")
        metrics = meta.get("eval_metrics")
        if isinstance(metrics, dict) and metrics:
            shown = ", ".join(f"{k} {v:.3f}" for k, v in metrics.items()
                              if isinstance(v, (int, float)) and k in
                              ("loss", "accuracy", "perplexity", "nll_per_step"))
            lines.append(f"    held-out: {shown}")
        lines.append(f"    {path}")
    return "\n".join(lines) if lines else "no bundles found"
