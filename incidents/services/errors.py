class DomainError(Exception):
    """A request the domain refuses; the API maps it to a 4xx with this message."""


class InvalidTransition(DomainError):
    pass
