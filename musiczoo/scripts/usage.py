"""--help for the console scripts: the script's docstring and the flags it takes.

absl's own --help lists the main module's flags only, and under a console entry point the
main module is the entry point's stub, so it lists none; nor would it list the flag groups
that musiczoo.scripts.common defines for several scripts.
"""
from absl import flags

FLAGS = flags.FLAGS


def script_help(*modules):
    """The first module's docstring (usage, examples), then every flag the modules define."""
    by_name = {flag.name: flag for module in modules
               for flag in FLAGS.get_flags_for_module(module)}
    lines = [(modules[0].__doc__ or "").strip(), "", "flags:"]
    for _, flag in sorted(by_name.items()):
        text = f"--{'[no]' if flag.boolean else ''}{flag.name}: {flag.help}"
        lines.append(flags.text_wrap(text, indent="      ", firstline_indent="  "))
        notes = "; ".join(note for note in (_default(flag), flag.parser.syntactic_help) if note)
        if notes:
            lines.append(flags.text_wrap(f"({notes})", indent="      "))
    lines += ["", "--helpfull lists absl's flags too."]
    return "\n".join(lines)


def _default(flag):
    default = flag.default_as_str or ""
    if default and not isinstance(flag.default, str):
        default = default.strip("'")  # absl quotes every default: 10, not '10'
    if default:
        return f"default: {default}"
    # flags.mark_flag_as_required registers this validator; absl keeps no other record.
    required = any("must have a value other than None" in getattr(v, "message", "")
                   for v in flag.validators)
    return "required" if required else ""
