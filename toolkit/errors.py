"""One exception hierarchy for Pitlane.

The CLI turns every :class:`PitlaneError` into one line on stderr and the exit
code below; anything else escaping is a bug and keeps its traceback.

Exit codes: 0 success, 1 user error, 2 usage error, 3 not found,
4 permission denied, 5 conflict.
"""

from __future__ import annotations


class PitlaneError(Exception):
    """Base of every error a user can cause and fix."""

    exit_code: int = 1


class UserError(PitlaneError):
    """Bad input: a malformed file, an invalid argument, an unmet requirement."""


class UsageError(PitlaneError):
    exit_code = 2


class NotFoundError(PitlaneError):
    exit_code = 3


class PermissionDeniedError(PitlaneError):
    exit_code = 4


class AuthenticationError(PermissionDeniedError):
    """Missing or invalid credentials."""


class ConflictError(PitlaneError):
    exit_code = 5


# --- bags ---------------------------------------------------------------
class BagError(UserError):
    """A bag cannot be read."""


class UnknownBagFormatError(BagError):
    pass


class CorruptBagError(BagError):
    pass


class SliceRangeError(BagError):
    pass


class BagNotFoundError(BagError, NotFoundError):
    exit_code = 3


class BagPermissionError(BagError, PermissionDeniedError):
    exit_code = 4


# --- data repo and search -----------------------------------------------
class DataRepoError(UserError):
    pass


class QueryError(UserError):
    """A search query does not parse or names unknown fields."""


# --- datasets and annotation --------------------------------------------
class DatasetError(UserError):
    pass


class AnnotationImportError(DatasetError):
    """An import does not match its dataset; carries every mismatch."""

    def __init__(self, message: str, mismatches: list[str] | None = None) -> None:
        self.mismatches = mismatches or []
        super().__init__(message)


class PredictorError(UserError):
    pass


# --- experiments ---------------------------------------------------------
class SpecError(UserError):
    """The experiment config is malformed or violates the schema."""


class ResourceError(UserError):
    """This machine cannot meet a stage's resource request."""


class PipelineError(UserError):
    """dvc or a stage failed."""


class ExternalToolError(UserError):
    """An external command (git, dvc, ...) failed; carries its last line."""


# --- release and registry -------------------------------------------------
class ReleaseError(UserError):
    pass


class TagGrammarError(ReleaseError):
    pass


class RegistryError(PitlaneError):
    """The registry answered with an error that has no closer class."""


class IntegrityError(UserError):
    """A downloaded file or an audit chain fails verification."""


# --- CI workflows -----------------------------------------------------------
class WorkflowError(UserError):
    """A workflow file is invalid, or the local harness cannot run part of it."""


class WorkflowFailedError(WorkflowError):
    """A job of a workflow run by the local harness failed; the message names the step."""
