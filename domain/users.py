"""Who signs in to the API: the roles a person can have, and an applicant's organisation.

A role here is what a signed-in person may reach in the API; what they may do in a case stays
the case's own check (`domain.actions`). The values are those of `domain.case.Role`, so that a
signed-in person is an actor as they are.
"""

from __future__ import annotations

from enum import StrEnum

from domain.identity import InvalidIdentityNumber, parse_identity_number


class ApiRole(StrEnum):
    APPLICANT = "applicant"  # bound to one organisation number
    OFFICER = "officer"
    DECISION_MAKER = "decision_maker"
    FINANCE = "finance"
    AUDITOR = "auditor"  # reads everything, changes nothing
    OPERATIONS = "operations"
    ADMINISTRATOR = "administrator"  # users and assignments


class InvalidUser(ValueError):
    """Raised with a Swedish reason naming no personal data."""


def applicant_org_number(text: str) -> str:
    """An applicant user's organisation, written NNNNNN-NNNN as the register writes it.

    A personnummer is refused, by the development users and the identity provider's sign-in alike:
    the organisation number of a signed-in applicant goes into logs and the register's queries, where
    a personnummer must never be. Neither call admits a sole trader (SD22-WHO-SOLE-TRADER excludes
    them; ES21-WHO-KIND admits promotion bodies only), so no applicant needs one today; a call that
    admits sole traders needs an applicant bound to the person's pseudonymous id instead.
    """
    try:
        number = parse_identity_number(text)
    except InvalidIdentityNumber as error:
        raise InvalidUser(error.reason) from None
    if number.is_personal:
        raise InvalidUser("ska vara ett organisationsnummer, inte ett personnummer")
    return number.formatted()
