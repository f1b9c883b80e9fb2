"""Billing's internal HTTP API (operations named in openapi.yaml)."""
from pathlib import Path

from connexion.datastructures import MediaTypeDict
from connexion.resolver import RelativeResolver
from connexion.validators import VALIDATOR_MAP, FormDataValidator

from servicekit.projections import agents as agents_projection
from servicekit.projections import families as families_projection
from servicekit.web import create_app as create_service_app

from billing.db import get_db
from billing.models import agents, families
from billing.provider import get_provider
from billing.settings import get_settings

SPEC = Path(__file__).with_name("openapi.yaml")


class ProviderFormValidator(FormDataValidator):
    """A payment provider's form (notification, return) carries fields billing does not list one by
    one (Systempay's vads_*, PayFiP's idop): a form schema with `additionalProperties` accepts
    them; every other form stays strict. The signature is what proves such a form."""

    def _validate_params_strictly(self, data: dict) -> None:
        if self._schema.get("additionalProperties"):
            return
        super()._validate_params_strictly(data)


def _validators() -> dict:
    body = MediaTypeDict(dict(VALIDATOR_MAP["body"]))
    body["application/x-www-form-urlencoded"] = ProviderFormValidator
    return {"body": body}


def create_app():
    get_provider()  # a misconfigured payment provider stops the web process at start, with its message
    app = create_service_app(get_settings(), get_db())
    app.add_api(SPEC, resolver=RelativeResolver("billing.api"), strict_validation=True, validate_responses=False,
                pythonic_params=True, validator_map=_validators())
    families_projection.install_api(app, families)
    agents_projection.install_check(app, agents)  # an agent removed in identity is refused
    return app
