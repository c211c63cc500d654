"""Exceptions heatpose raises for problems the user can fix (bad files, bad names, bad input).

Every message names the file and, where there is one, the record (annotation id, image,
state_dict key) so that the user can find what to fix."""


class HeatposeError(Exception):
    """Base class; the CLI prints these as one line and exits with status 2."""


class InputError(HeatposeError, ValueError):
    """Bad user input: a corrupt image, malformed JSON, wrong keypoint count, bad box."""


class CheckpointError(HeatposeError):
    """A checkpoint that cannot be read or does not fit the model (lists the keys)."""


class UnknownModelError(HeatposeError, KeyError):
    """A model name that is not in the zoo (the message suggests close names)."""

    def __str__(self) -> str:          # KeyError would print the repr
        return str(self.args[0]) if self.args else ""


class DownloadError(HeatposeError):
    """A download that failed; says which URL to fetch and where to put the file."""
