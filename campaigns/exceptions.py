"""The exceptions of `campaigns/`, in one place, under `CampaignflowError`.

Every package has an `exceptions.py` whose base derives from `CampaignflowError`, so a caller
can catch any campaignflow error, and the API maps them in one place.
"""

from __future__ import annotations


class CampaignflowError(Exception):
    """Any error of campaignflow: `except CampaignflowError` catches every one of them."""


class ContactsFileError(CampaignflowError, ValueError):
    """The file as a whole cannot be read: nothing of it may be used."""


class UnterminatedQuote(ContactsFileError):
    """The text ends inside a quoted cell (at the end of a file: the file is broken)."""


class DefinitionError(CampaignflowError, ValueError):
    """A campaign definition broke a rule; `str()` is one line per problem, field first."""


class YamlShapeError(CampaignflowError, ValueError):
    """A document PyYAML would read, but not as written (duplicate key, too deep, too big)."""
