"""Walk the paths given: directories below, ignore files honoured, only safe links followed."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pathspec import GitIgnoreSpec

from ragcli.discovery.ignore_rules import IGNORE_FILES, Rules, ignored, matchable, never_wanted
from ragcli.discovery.skip_reasons import failure_reason, not_regular, stat_failure
from ragcli.records import Found, Skipped
from ragcli.text.loaders import kind_of


@dataclass(frozen=True)
class DiscoveryOptions:
    """Which files a walk takes; patterns use gitignore syntax, relative to the walked root."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    follow_symlinks: bool = True
    # Links (in a walk, or in a path named) leading outside the folder walked, or for a
    # named path outside the current directory, are passed over unless this is set.
    links_outside: bool = False
    # Images are read only by OCR: with it turned off, a walk passes them over (a named
    # one is still taken, and its reading says why it cannot be).
    images: bool = True


@dataclass
class _Frame:
    """A directory being walked: where it is, its real location, the rules in force there."""

    path: Path
    rel: str
    real: str
    rules: tuple[Rules, ...]
    entries: Iterator[os.DirEntry[str]]


def discover(
    paths: Sequence[Path], options: DiscoveryOptions, skipped: list[Skipped]
) -> Iterator[Found]:
    """Yield each supported file under the given paths once; record what is passed over.

    A file named in `paths` is taken whatever the ignore files, hidden-name rules and
    include/exclude patterns say: those only filter what a directory walk finds.
    """
    walker = _Walker(options, skipped)
    for given in paths:
        yield from walker.named(given.absolute())


def discover_below(
    root: Path, paths: Sequence[Path], options: DiscoveryOptions, skipped: list[Skipped]
) -> Iterator[Found]:
    """Yield what a walk of `root` takes at or below each of `paths` (each within root).

    The folders on the way down are judged, and their ignore files read, as the walk does;
    a path that no longer exists yields nothing. A file may come twice (via two paths).
    """
    root = root.absolute()
    for path in paths:
        # A walker each: the folders on the way down are entered again for every path.
        yield from _Walker(options, skipped).below(root, path.absolute())


class _Walker:
    """One discover() call: its filters, and the real files and directories already seen."""

    def __init__(self, options: DiscoveryOptions, skipped: list[Skipped]) -> None:
        self.skipped = skipped
        self.follow_symlinks = options.follow_symlinks
        self.links_outside = options.links_outside
        self.images = options.images
        self.here = os.path.realpath(os.getcwd())
        self.include = GitIgnoreSpec.from_lines(options.include) if options.include else None
        self.exclude = GitIgnoreSpec.from_lines(options.exclude) if options.exclude else None
        self.seen_files: set[str] = set()
        self.seen_dirs: set[str] = set()

    def skip(self, path: Path, reason: str, failed: bool = False) -> None:
        """Record a path passed over."""
        self.skipped.append(Skipped(str(path), reason, failed))

    def named(self, path: Path) -> Iterator[Found]:
        """Take a path the user gave: a file as it is, a directory walked."""
        try:
            mode = os.stat(path).st_mode
        except OSError as exc:
            self.skip(path, stat_failure(path, exc), failed=True)
            return
        real = os.path.realpath(path)
        through_link = real != os.path.normpath(path)
        if through_link and not self.links_outside and not _inside(real, self.here):
            # The rule of a walk, with the current directory as the folder: a planted link
            # (`notes.txt -> /etc/shadow` in a cloned repository) must not be read.
            self.skip(
                path,
                f"link points outside the current directory (to {real}); --follow-links takes it",
                failed=True,
            )
            return
        if stat.S_ISDIR(mode):
            yield from self.walk(path)
            return
        if not stat.S_ISREG(mode):
            self.skip(path, not_regular(mode), failed=True)  # never opened: a FIFO would block
            return
        found = self.take(path, real, path.parent, True)
        if found is not None:
            yield found

    def walk(self, root: Path) -> Iterator[Found]:
        """Walk a directory depth first in name order, yielding the files it takes."""
        real_root = os.path.realpath(root)
        if real_root in self.seen_dirs:
            return
        top = self.enter(root, "", real_root, ())
        yield from self.drain([top] if top is not None else [], root, real_root)

    def below(self, root: Path, path: Path) -> Iterator[Found]:
        """Walk only the part of root's tree at or below path, judging the folders above it."""
        parts = path.relative_to(root).parts
        if not parts:
            yield from self.walk(root)
            return
        real_root = os.path.realpath(root)
        frame = self.enter(root, "", real_root, ())
        stack: list[_Frame] = []
        for depth, name in enumerate(parts, start=1):
            if frame is None:
                return
            entry = next((e for e in frame.entries if e.name == name), None)
            if entry is None:
                return  # gone since the change was seen
            last = depth == len(parts)
            frame.entries = iter([entry] if last else ())
            stack.append(frame)
            if last:
                break
            self.visit(entry, stack, root, real_root)  # pushes the folder if the walk enters it
            frame = stack.pop() if len(stack) > depth else None
        yield from self.drain(stack, root, real_root)

    def drain(self, stack: list[_Frame], root: Path, real_root: str) -> Iterator[Found]:
        """Walk the entries left in the folders on the stack, deepest first."""
        while stack:
            entry = next(stack[-1].entries, None)
            if entry is None:
                stack.pop()
                continue
            found = self.visit(entry, stack, root, real_root)
            if found is not None:
                yield found

    def enter(self, path: Path, rel: str, real: str, rules: tuple[Rules, ...]) -> _Frame | None:
        """List a directory and read its ignore files; record it if it cannot be listed."""
        try:
            with os.scandir(path) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as exc:
            self.skip(path, failure_reason(exc), failed=True)
            return None
        self.seen_dirs.add(real)
        rules += tuple(self.read_rules(path, rel, entries))
        return _Frame(path, rel, real, rules, iter(entries))

    def read_rules(self, path: Path, rel: str, entries: list[os.DirEntry[str]]) -> Iterator[Rules]:
        """Yield the rules of the ignore files among a directory's entries."""
        names = {entry.name for entry in entries}
        for name in IGNORE_FILES:
            if name not in names or not os.path.isfile(path / name):
                continue
            try:
                lines = (path / name).read_bytes().splitlines()
            except OSError as exc:
                self.skip(path / name, f"ignore file not read: {failure_reason(exc)}")
                continue
            yield Rules(rel, GitIgnoreSpec.from_lines(os.fsdecode(line) for line in lines))

    def visit(
        self, entry: os.DirEntry[str], stack: list[_Frame], root: Path, real_root: str
    ) -> Found | None:
        """Judge one entry: take a file, push a directory to walk, or pass the entry over."""
        frame = stack[-1]
        path = frame.path / entry.name
        rel = f"{frame.rel}/{entry.name}" if frame.rel else entry.name
        is_dir = _is_dir(entry)
        if never_wanted(entry.name, path, is_dir) or self.filtered(frame.rules, rel, is_dir):
            return None
        real = os.path.join(frame.real, entry.name)
        if entry.is_symlink():
            linked = self.follow(path, root, real_root, {f.real for f in stack}, is_dir)
            if linked is None:
                return None
            real = linked
        if is_dir:
            child = None if real in self.seen_dirs else self.enter(path, rel, real, frame.rules)
            if child is not None:
                stack.append(child)
            return None
        if not _is_file(entry):
            self.skip(path, not_regular(_mode(entry)))
            return None
        return self.take(path, real, root, False)

    def filtered(self, rules: tuple[Rules, ...], rel: str, is_dir: bool) -> bool:
        """Say whether ignore files or the include/exclude patterns leave this entry out."""
        if ignored(rules, rel, is_dir):
            return True
        if self.exclude is not None and self.exclude.match_file(matchable(rel, is_dir)):
            return True
        return (
            not is_dir
            and self.include is not None
            and not self.include.match_file(matchable(rel, False))
        )

    def follow(
        self, path: Path, root: Path, real_root: str, ancestors: set[str], is_dir: bool
    ) -> str | None:
        """Return where a link leads, or None (recorded) when it must not be followed."""
        if not self.follow_symlinks:
            self.skip(path, "symlink not followed")
            return None
        try:
            os.stat(path)
        except OSError as exc:
            self.skip(path, stat_failure(path, exc))
            return None
        real = os.path.realpath(path)
        if not self.links_outside and not _inside(real, real_root):
            self.skip(path, f"link points outside {root}")
            return None
        if is_dir and real in ancestors:
            self.skip(path, "symlink loop")
            return None
        return real

    def take(self, path: Path, real: str, root: Path, named: bool) -> Found | None:
        """Return a regular file as Found if it is wanted and new; record why when it is not."""
        kind = kind_of(path)
        if kind is None:
            self.skip(path, f"unsupported format {path.suffix or '(no extension)'}", named)
            return None
        if kind == "image" and not self.images and not named:
            self.skip(path, "an image, and OCR is turned off")
            return None
        if not os.access(path, os.R_OK):
            self.skip(path, "permission denied", failed=True)
            return None
        if real in self.seen_files:
            return None
        self.seen_files.add(real)
        return Found(Path(real), kind, root, path)


def _inside(path: str, folder: str) -> bool:
    """Say whether a resolved path is the resolved folder or lies below it."""
    return os.path.commonpath([path, folder]) == folder


def _is_dir(entry: os.DirEntry[str]) -> bool:
    """Say whether an entry is a directory or a link to one."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def _is_file(entry: os.DirEntry[str]) -> bool:
    """Say whether an entry is a regular file or a link to one."""
    try:
        return entry.is_file()
    except OSError:
        return False


def _mode(entry: os.DirEntry[str]) -> int:
    """The mode of what an entry names (through a link), 0 if it cannot be read."""
    try:
        return entry.stat().st_mode
    except OSError:
        return 0
