"""Identity's internal HTTP API (operations named in openapi.yaml).

Interim: the contract (openapi.yaml) is published first so the gateway can code against it;
operations not implemented yet answer 501 until their commit lands.
"""
from servicekit.web import Problem


def __getattr__(name: str):
    if name.startswith("_"):
        raise AttributeError(name)

    def not_yet(*_args, **_kwargs):
        raise Problem(501, "Cette opération n'est pas encore disponible.")

    not_yet.__name__ = name
    return not_yet
