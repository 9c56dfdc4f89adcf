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


def corpora_of(meta):
    """The named corpora a bundle was trained on (from its recorded dataset input)."""
    spec = (meta.get("dataset") or {}).get("input_spec") or ""
    names = [part.strip() for part in str(spec).split(",") if part.strip()]
    if not names:
        text = str(meta.get("training_data") or "")
        from musiczoo.pipelines.readers.corpora import CORPORA
        names = [name for name in CORPORA if name in text]
    return names


def licences(meta):
    """[(corpus, licence)] of the data a bundle was trained on; an imported Magenta
    model's data and licence are Magenta's (Apache-2.0 code; its training data's own)."""
    from musiczoo.pipelines.readers.corpora import CORPORA
    if meta.get("imported_from"):
        return [("imported from Magenta", "the original model's terms (Magenta's released "
                 "checkpoints: Apache-2.0; their training data: see Magenta)")]
    found = []
    for name in corpora_of(meta):
        corpus = CORPORA.get(name)
        found.append((name, corpus.licence if corpus else "your own data: its own terms"))
    return found


def card(name_or_path):
    """A bundle's model card as text: what it is, its training data and their licences
    (read before using the bundle in a product: music21's corpora are non-commercial),
    its held-out metrics and golden record, and how it was built."""
    path = bundles.resolve_bundle(name_or_path)
    header = bundle.read_header(path)
    meta = header.metadata
    lines = [f"# {path.stem}", "",
             f"model: {header.family} / {header.config_name} ({header.file_size / 2 ** 20:.1f} MiB)",
             f"description: {meta.get('description', '')}",
             f"training data: {meta.get('training_data', 'not recorded')}"]
    dataset = meta.get("dataset") or {}
    if dataset:
        lines.append(f"dataset: input {dataset.get('input_spec')}, eval ratio "
                     f"{dataset.get('eval_ratio')}")
    if meta.get("steps"):
        lines.append(f"training steps: {meta['steps']}")
    lines.append("licences of the training data:")
    lines += [f"  - {corpus}: {licence}" for corpus, licence in licences(meta)] or \
        ["  - not recorded"]
    metrics = meta.get("eval_metrics")
    if isinstance(metrics, dict) and metrics:
        lines.append("held-out metrics (recorded at training): " + ", ".join(
            f"{k} {v:.4f}" for k, v in sorted(metrics.items()) if isinstance(v, (int, float))))
    profile = meta.get("style_profile")
    if isinstance(profile, dict) and profile:  # a multi-instrument bundle's styles (--style)
        lines.append("styles (--style; pieces, usual tempo and meter): " + ", ".join(
            f"{name} ({entry.get('pieces')}, {entry.get('qpm', 0):.0f} bpm, "
            f"{entry.get('time_signature')})" for name, entry in sorted(profile.items())
            if isinstance(entry, dict)))
    lines.append("golden record: " + ("yes (musiczoo_bundles --check verifies it)"
                                      if golden.find(path, meta) is not None else "none"))
    build = path.resolve().parent.parent / "BUILD.md"
    section = _build_section(build, path.name) if build.is_file() else None
    if section:
        lines += ["how it was built (BUILD.md):", *[f"  {line}" for line in section]]
    else:
        lines.append(f"how it was built: BUILD.md, section bundles/{path.name}")
    return "\n".join(lines)


def _build_section(build, file_name):
    """The first command block of BUILD.md's `### bundles/<file>` section."""
    text = build.read_text(errors="replace")
    marker = f"### bundles/{file_name}"
    at = text.find(marker)
    if at < 0:
        return None
    start = text.find("```bash", at)
    end = text.find("```", start + 7) if start >= 0 else -1
    following = text.find("\n### ", at + len(marker))
    if start < 0 or end < 0 or (0 <= following < start):
        return None
    return [line for line in text[start + 7:end].strip().splitlines() if line.strip()]


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
        found = licences(meta)
        if found:
            lines.append("    licence: " + "; ".join(f"{c}: {l}" for c, l in found))
        metrics = meta.get("eval_metrics")
        if isinstance(metrics, dict) and metrics:
            shown = ", ".join(f"{k} {v:.3f}" for k, v in metrics.items()
                              if isinstance(v, (int, float)) and k in
                              ("loss", "accuracy", "perplexity", "nll_per_step"))
            lines.append(f"    held-out: {shown}")
        lines.append(f"    {path}")
    return "\n".join(lines) if lines else "no bundles found"
