"""Errors of the state API (Ray's names)."""


class RayStateApiException(Exception):
    """The state API could not answer: the cluster did not respond, or the query was bad."""


class DataSourceUnavailable(RayStateApiException):
    pass
