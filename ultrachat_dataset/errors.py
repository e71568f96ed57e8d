"""Typed errors a user can act on. The CLI turns each into one line on stderr and exit code 2."""


class UltraChatError(Exception):
    """Base class: the message names what went wrong and what to do about it."""


class ConfigError(UltraChatError):
    """An unknown config, option or filter name."""


class SourceError(UltraChatError):
    """The release files cannot be found where the user said they are."""


class DataFileError(UltraChatError):
    """A data file cannot be opened or read at all (a bad line is a reject, not an error)."""


class DownloadError(UltraChatError):
    """A file could not be fetched or verified; the message names the file or URL and why."""


class NoNetworkError(DownloadError):
    """A host name did not resolve: no network (or no DNS). Not retried, no other origin tried."""
