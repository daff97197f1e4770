"""Release tag grammar, compatible with GTO (iterative/gto, ``gto/constants.py``).

Tags understood::

    NAME@VERSION[#N]          register a version (GTO needs VERSION = vSEMVER)
    NAME@VERSION![#N]         cancel (deregister) a version
    NAME#STAGE#N              assign a stage (channel); N rises per artifact
    NAME#STAGE!#N             unassign a stage
    NAME@deprecated[#N]       deprecate the whole artifact
    dir=name@...              monorepo artifact ``dir:name``

GTO only accepts ``vSEMVER`` versions; we accept any version string made of
ref-safe characters so teams can keep date or build-number versions, and we
write bare semver (``1.2.0``) the way GTO does (``v1.2.0``) so both tools
agree on the same tags.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import semver

from toolkit.errors import TagGrammarError

SEPARATOR_IN_NAME = ":"
SEPARATOR_IN_TAG = "="

# Same character classes as gto/constants.py so every GTO name is ours too.
_DIRNAME = r"[a-zA-Z0-9\-_./]+"
_NAME = r"[a-zA-Z0-9](?:[a-zA-Z0-9\-/_]*[a-zA-Z0-9])?"
_FULLNAME_IN_TAG = rf"(?:{_DIRNAME}{SEPARATOR_IN_TAG})?{_NAME}"
# Any version string that is safe inside a Git ref and cannot be confused with
# the grammar's own markers (#, !, @) or GTO's reserved words.
_VERSION = r"[a-zA-Z0-9](?:[a-zA-Z0-9._+\-]*[a-zA-Z0-9+])?"

_TAG_RE = re.compile(
    rf"^(?P<artifact>{_FULLNAME_IN_TAG})"
    rf"(?:@(?P<deprecated>deprecated)|@(?P<created>created)"
    rf"|(?:#(?P<stage>{_NAME})|@(?P<version>{_VERSION}))(?P<cancel>!?))"
    rf"(?:#(?P<counter>[0-9]+))?$"
)
_FULLNAME_RE = re.compile(rf"^(?:{_DIRNAME}{SEPARATOR_IN_NAME})?{_NAME}$")
_NAME_RE = re.compile(rf"^{_NAME}$")
_VERSION_RE = re.compile(rf"^{_VERSION}$")
_BARE_SEMVER_RE = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:[-+][0-9A-Za-z.\-+]+)?$")
_RESERVED_VERSIONS = {"deprecated", "created", "latest", "greatest"}


class TagAction(enum.StrEnum):
    REGISTER = "register"
    DEREGISTER = "deregister"
    ASSIGN = "assign"
    UNASSIGN = "unassign"
    DEPRECATE = "deprecate"
    CREATE = "create"


@dataclass(frozen=True)
class ParsedTag:
    tag: str
    name: str  # artifact name with ``dir:name`` restored
    action: TagAction
    version: str | None = None
    stage: str | None = None
    counter: int | None = None

    @property
    def is_version(self) -> bool:
        return self.action in (TagAction.REGISTER, TagAction.DEREGISTER)

    @property
    def is_stage(self) -> bool:
        return self.action in (TagAction.ASSIGN, TagAction.UNASSIGN)


def name_to_tag(name: str) -> str:
    return name.replace(SEPARATOR_IN_NAME, SEPARATOR_IN_TAG)


def tag_to_name(value: str) -> str:
    return value.replace(SEPARATOR_IN_TAG, SEPARATOR_IN_NAME)


def parse_tag(tag: str) -> ParsedTag | None:
    """The meaning of a tag name, or None when it is not a release tag."""
    match = _TAG_RE.fullmatch(tag)
    if not match:
        return None
    name = tag_to_name(match["artifact"])
    counter = int(match["counter"]) if match["counter"] else None
    cancel = match["cancel"] == "!"
    if match["deprecated"]:
        return ParsedTag(tag, name, TagAction.DEPRECATE, counter=counter)
    if match["created"]:
        return ParsedTag(tag, name, TagAction.CREATE, counter=counter)
    if match["stage"]:
        action = TagAction.UNASSIGN if cancel else TagAction.ASSIGN
        return ParsedTag(tag, name, action, stage=match["stage"], counter=counter)
    version = match["version"]
    if version in _RESERVED_VERSIONS:
        return None
    action = TagAction.DEREGISTER if cancel else TagAction.REGISTER
    return ParsedTag(tag, name, action, version=version, counter=counter)


def check_name(name: str) -> str:
    if not _FULLNAME_RE.fullmatch(name):
        raise TagGrammarError(
            f"invalid package name {name!r}: use letters, digits, '-', '_', '/' "
            "(start and end with a letter or digit), optionally prefixed 'dir:'"
        )
    return name


def check_stage(stage: str) -> str:
    if not _NAME_RE.fullmatch(stage):
        raise TagGrammarError(
            f"invalid channel {stage!r}: use letters, digits, '-', '_', '/' (start and end with a letter or digit)"
        )
    return stage


def normalize_version(version: str) -> str:
    """The version as written in the tag: bare semver gets GTO's ``v`` prefix."""
    if not _VERSION_RE.fullmatch(version) or version in _RESERVED_VERSIONS or ".." in version:
        raise TagGrammarError(
            f"invalid version {version!r}: use letters, digits, '.', '_', '+', '-' "
            "(start with a letter or digit; 'latest', 'deprecated' are reserved)"
        )
    if _BARE_SEMVER_RE.fullmatch(version):
        return f"v{version}"
    return version


def version_tag(name: str, version: str) -> str:
    return f"{name_to_tag(check_name(name))}@{normalize_version(version)}"


def cancel_tag(name: str, version: str) -> str:
    return f"{version_tag(name, version)}!"


def stage_tag(name: str, stage: str, counter: int) -> str:
    return f"{name_to_tag(check_name(name))}#{check_stage(stage)}#{counter}"


def unassign_tag(name: str, stage: str, counter: int) -> str:
    return f"{name_to_tag(check_name(name))}#{check_stage(stage)}!#{counter}"


def deprecate_tag(name: str) -> str:
    return f"{name_to_tag(check_name(name))}@deprecated"


def next_counter(tags: Iterable[str], name: str) -> int:
    """GTO's counter: one more than the highest ``#N`` on any tag of this artifact."""
    highest = 0
    for tag in tags:
        parsed = parse_tag(tag)
        if parsed and parsed.name == name and parsed.counter is not None:
            highest = max(highest, parsed.counter)
    return highest + 1


def parse_semver(version: str) -> semver.Version | None:
    text = version[1:] if version[:1] in ("v", "V") else version
    try:
        return semver.Version.parse(text)
    except ValueError:
        return None


def version_newer(a: str, a_created: datetime, b: str, b_created: datetime) -> bool:
    """Whether version ``a`` sorts after ``b``: semver when both parse, else creation time."""
    sa, sb = parse_semver(a), parse_semver(b)
    if sa is not None and sb is not None and sa != sb:
        return sa > sb
    if a_created != b_created:
        return a_created > b_created
    return a > b


def version_sort_key(version: str, created: datetime) -> tuple[int, object, datetime, str]:
    """A total order usable with ``sorted``: semver versions by semver, the rest by time.

    Mixing both kinds in one list orders non-semver versions before semver ones,
    each group internally well ordered; two semver versions never compare by time.
    """
    parsed = parse_semver(version)
    if parsed is not None:
        return (1, _SemverKey(parsed), created, version)
    return (0, _SemverKey(None), created, version)


@dataclass(frozen=True)
class _SemverKey:
    value: semver.Version | None

    def __lt__(self, other: _SemverKey) -> bool:
        if self.value is None or other.value is None:
            return False
        return bool(self.value < other.value)
