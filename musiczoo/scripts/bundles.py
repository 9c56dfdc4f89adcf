"""musiczoo_bundles: the shipped bundles, and a check of the bundles you hold.

  musiczoo_bundles                                   # list the shipped bundles
  musiczoo_bundles --check bundles/basic_rnn.mzb my_run/attention_rnn.mzb
  musiczoo_bundles --card basic_rnn                  # its model card: data, licence, metrics

--check validates each bundle (a path or a shipped name): the file format and checksum,
the header against the schema, the model built and its weights restored, and, where the
bundle has a golden record (bundles/<name>.golden.json beside it, or one in its metadata),
that the model still gives the recorded scores and fixed-seed notes. Exit 1 if any fails.
"""
from absl import flags

from musiczoo.scripts import common

FLAGS = flags.FLAGS
flags.DEFINE_bool("card", False, "Print the model card of each bundle named after the flags: "
                  "training data and their licences, metrics, how it was built.")
flags.DEFINE_bool("check", False, "Validate the bundles named after the flags (paths or "
                  "shipped names; default: every shipped bundle).")


def main(names):
    from musiczoo import bundle_check
    if FLAGS.card:
        if not names:
            raise ValueError("--card takes bundle names or paths, e.g. musiczoo_bundles --card "
                             "basic_rnn")
        print("\n\n".join(bundle_check.card(name) for name in names))
        return 0
    if not FLAGS.check:
        if names:
            raise ValueError(f"unexpected arguments {names}: give --check to validate bundles")
        print(bundle_check.listing())
        return 0
    failed = 0
    for report in bundle_check.check_all(names or None):
        print(report.line())
        failed += not report.ok
    return 1 if failed else 0


def run():
    common.run(main, "musiczoo_bundles", arguments=True)


if __name__ == "__main__":
    run()
