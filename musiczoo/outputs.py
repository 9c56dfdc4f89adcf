"""Writing outputs safely: names that stay inside the folder the user gave, files that
appear whole or not at all, and nothing replaced unless the user asked for it.

Every file musiczoo writes for a user (MIDI, bundles, datasets, NoteSequence records)
goes through `atomic_file`: the bytes go to a hidden temporary file beside the target,
are flushed to disk, and only then take the target's name, so a run killed half way never
leaves a short file under the real name. Without `overwrite` the name is taken with
`os.link`, which fails if the name exists, so two processes writing into one folder can
never replace each other's files. An existing path that is not a regular file (a device
such as /dev/full, a folder, a pipe) is refused either way.

Names that come from data (a bundle's config name, a piece's title) pass through
`safe_name` first, so `../../x` or `/etc/passwd` cannot steer a write out of the folder.
"""
import contextlib
import errno
import os
import pathlib
import re
import stat
import tempfile
import time

# errno values that mean "the disk (or a quota, or a size limit) is full", not a bug.
_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_MAX_NAME = 80


class OutputError(ValueError):
    """An output that cannot be written (exists, is special, outside the folder, disk
    full, read-only); the message names the path and the problem."""

    def __init__(self, path, problem):
        self.path = str(path)
        super().__init__(f"{self.path}: {problem}")


def describe_os_error(error):
    """Words for an OSError from writing, for messages ('the disk is full', ...)."""
    if error.errno in _FULL:
        return "the disk is full (no space left on the device, or a size limit was reached)"
    if error.errno == errno.EROFS:
        return "the file system is read-only"
    if error.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return error.strerror or str(error)


def safe_name(text, fallback="output"):
    """A file-name stem made from untrusted text: letters, digits, '.', '_' and '-' only,
    no leading dot (so never '..' or hidden), at most 80 characters."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", str(text or "")).strip("._-")
    return name[:_MAX_NAME].rstrip("._-") or fallback


def output_dir(path):
    """Creates the folder `path` (and its parents) if needed and checks that files can be
    written in it; returns it as a Path. Raises OutputError with the reason."""
    folder = pathlib.Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise OutputError(folder, "exists and is not a folder; give a folder to write into")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except FileExistsError:  # a parent is a file
        raise OutputError(folder, "cannot be created: part of the path is a file") from None
    except NotADirectoryError:
        raise OutputError(folder, "cannot be created: part of the path is a file") from None
    except OSError as error:
        raise OutputError(folder, f"cannot write here: {describe_os_error(error)}") from None
    return folder


def check_output_dir(path):
    """What `output_dir` checks, without creating anything: for a quick refusal before
    long work (loading a model) starts. Returns the path."""
    folder = pathlib.Path(path).expanduser()
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise OutputError(folder, "exists and is not a folder" if probe == folder
                          else f"cannot be created: {probe} is a file")
    if not os.access(probe, os.W_OK | os.X_OK):
        reason = ("the file system is read-only" if _read_only(probe) else "permission denied")
        raise OutputError(folder, f"cannot write here: {reason}")
    return folder


def _read_only(path):
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def inside(folder, name):
    """folder / name, refusing a name that would leave the folder."""
    folder = pathlib.Path(folder)
    path = folder / name
    if (os.path.isabs(name) or pathlib.PurePath(name).name != name
            or name in ("", ".", "..")):
        raise OutputError(path, f"file name {name!r} would leave the folder {folder}")
    return path


def check_target(path, overwrite=False):
    """Refuses a target that exists and is not a regular file, or exists when `overwrite`
    is off. A symbolic link counts as what it is, a link: replacing it never writes
    through it."""
    path = pathlib.Path(path)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as error:
        raise OutputError(path, describe_os_error(error)) from None
    if stat.S_ISDIR(info.st_mode):
        raise OutputError(path, "is a folder; give a file name to write")
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode)):
        raise OutputError(path, "exists and is not a regular file (a device, pipe or "
                                "socket); refusing to replace it")
    if not overwrite:
        raise OutputError(path, "already exists; choose another name or pass --overwrite "
                                "to replace it")


@contextlib.contextmanager
def atomic_path(path, overwrite=False):
    """Context manager for writers that open files by name (TFRecordWriter, numpy): yields
    a temporary path beside `path`, whose file takes the name `path` only when the block
    ends without an error. Raises OutputError for a taken name (unless `overwrite`), a
    special file, a full disk or a read-only folder; never leaves the temporary behind."""
    path = pathlib.Path(path)
    check_target(path, overwrite)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
        os.close(fd)
    except OSError as error:
        raise OutputError(path, f"cannot be written: {describe_os_error(error)}") from None
    try:
        try:
            yield tmp
            with open(tmp, "rb+") as f:  # the data must be on disk before the name is
                os.fsync(f.fileno())
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files: the usual mode
            _publish(tmp, path, overwrite)
        except OSError as error:
            raise OutputError(path, f"cannot be written: {describe_os_error(error)}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_file(path, overwrite=False, mode="wb"):
    """`atomic_path`, yielding the open temporary file instead of its name."""
    with atomic_path(path, overwrite) as tmp:
        with open(tmp, mode) as f:
            yield f


def write_bytes(path, data, overwrite=False):
    with atomic_file(path, overwrite) as f:
        f.write(data)
    return pathlib.Path(path)


def write_text(path, text, overwrite=False):
    return write_bytes(path, text.encode("utf-8"), overwrite)


def _publish(tmp, path, overwrite):
    if overwrite:
        check_target(path, overwrite=True)  # re-checked: it may have appeared meanwhile
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # atomic, and fails if the name exists: never replaces
    except FileExistsError:
        raise OutputError(path, "already exists (written by another run meanwhile); "
                                "nothing was replaced") from None
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        # No hard links here (some network or FAT file systems): claim the name
        # exclusively, then move the finished file over our own claim.
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            raise OutputError(path, "already exists; nothing was replaced") from None
        os.replace(tmp, path)


def _umask():
    # Read from /proc where possible: os.umask() can only be read by setting it, which
    # would change it process-wide for a moment (other threads create files too).
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def run_tag(now=None):
    """A run's name part: its local date and time, e.g. 20261201-201502."""
    return time.strftime("%Y%m%d-%H%M%S", time.localtime(now))


def write_batch(folder, stem, suffixes, write_one, *, extension=".mid", overwrite=False,
                tag=None):
    """Writes one file per suffix into `folder` with `write_one(index, file_object)`;
    returns the paths. `stem` comes from data and is made safe here.

    With `overwrite` the files are `<stem>_<suffix><extension>`, replaced atomically.
    Without it they are `<stem>_<run tag>_<suffix><extension>` (the tag is the run's date
    and time), and a tag already in use in the folder (a run in the same second) becomes
    `<tag>-2`, `-3`, ...: runs never replace each other's files, even when they run at once.
    """
    folder = output_dir(folder)
    stem = safe_name(stem)
    suffixes = [safe_name(s, "") for s in suffixes]

    def names(tagged):
        middle = f"_{tagged}" if tagged else ""
        return [inside(folder, f"{stem}{middle}_{s}{extension}") for s in suffixes]

    if overwrite:
        paths = names(None)
        for index, path in enumerate(paths):
            with atomic_file(path, overwrite=True) as f:
                write_one(index, f)
        return paths
    base = tag or run_tag()
    for attempt in range(1, 1000):
        paths = names(base if attempt == 1 else f"{base}-{attempt}")
        if any(os.path.lexists(p) for p in paths):
            continue
        written = []
        try:
            for index, path in enumerate(paths):
                with atomic_file(path) as f:
                    write_one(index, f)
                written.append(path)
            return paths
        except OutputError:
            if not any(os.path.lexists(p) for p in paths if p not in written):
                raise  # a real failure (disk full, ...), not a name taken by a racing run
            for path in written:  # another run took this tag: give it back, use the next
                path.unlink(missing_ok=True)
    raise OutputError(folder, f"no free file names for run {base} after 999 tries")
