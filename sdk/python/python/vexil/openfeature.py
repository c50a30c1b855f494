"""``VexilProvider``: an OpenFeature provider (``openfeature-sdk``) over a
``vexil.Client``, evaluating locally.

    from openfeature import api
    from openfeature.evaluation_context import EvaluationContext
    from vexil.openfeature import VexilProvider

    api.set_provider_and_wait(VexilProvider(client))  # waits for a first state
    of = api.get_client()
    on = of.get_boolean_value("new-checkout", False, EvaluationContext("user-42", {"country": "NZ"}))

Reasons, error codes, variants and metadata map as the table in
ARCHITECTURE.md ("OpenFeature") says, the same as the Rust provider and
OFREP: ``OFF`` → ``DISABLED``, targets and single-variation rules →
``TARGETING_MATCH``, rollouts → ``SPLIT``, a flag without targeting →
``STATIC``, a fallthrough after targeting or a failed prerequisite →
``DEFAULT``; a malformed flag is ``PARSE_ERROR``. The targeting key is
Vexil's ``key``; an attribute named ``key``, a nested dict or a list of
non-strings is ``INVALID_CONTEXT``; a flag whose answer may depend on the
key, asked without one, is ``TARGETING_KEY_MISSING``. ``object`` needs a
flag whose value is a JSON object; ``integer`` a whole number.
"""

from __future__ import annotations

from typing import Any, List, Optional

from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEventDetails
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagResolutionDetails, Reason
from openfeature.provider import AbstractProvider
from openfeature.provider.metadata import Metadata

from vexil._client import Client, FlagChange

__all__ = ["VexilProvider"]


class VexilProvider(AbstractProvider):
    """An OpenFeature provider over a ``vexil.Client``.

    ``init_timeout`` bounds how long ``initialize`` (run by
    ``api.set_provider``) waits for a first state, fresh or from the cache
    file. Flag changes are emitted as ``PROVIDER_CONFIGURATION_CHANGED``.
    """

    def __init__(self, client: Client, init_timeout: float = 5.0) -> None:
        if not isinstance(client, Client):
            raise TypeError("client must be a vexil.Client")
        super().__init__()
        self._client = client
        self._init_timeout = float(init_timeout)
        self._listening = False

    @property
    def client(self) -> Client:
        return self._client

    def get_metadata(self) -> Metadata:
        return Metadata(name="Vexil")

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        self._client._wait_until_ready(self._init_timeout, True)
        if not self._listening:
            self._listening = True
            self._client.on_change(self._changed)

    def shutdown(self) -> None:
        self._client.remove_listener(self._changed)
        self._listening = False

    def _changed(self, change: FlagChange) -> None:
        flags: List[str] = [change.key] if change.key is not None else []
        self.emit_provider_configuration_changed(ProviderEventDetails(flags_changed=flags))

    def _resolve(
        self, of_type: str, flag_key: str, default: Any, ctx: Optional[EvaluationContext]
    ) -> FlagResolutionDetails[Any]:
        targeting_key = ctx.targeting_key if ctx is not None else None
        attributes = dict(ctx.attributes) if ctx is not None else {}
        if targeting_key is not None and not isinstance(targeting_key, str):
            return FlagResolutionDetails(
                value=default,
                reason=Reason.ERROR,
                error_code=ErrorCode.INVALID_CONTEXT,
                error_message="the targeting key must be a string",
            )
        value, variant, reason, code, message, metadata = self._client._resolve(
            flag_key, of_type, targeting_key, attributes
        )
        if code is not None or reason is None:
            return FlagResolutionDetails(
                value=default,
                reason=Reason.ERROR,
                error_code=ErrorCode(code or "GENERAL"),
                error_message=message,
            )
        return FlagResolutionDetails(
            value=value, variant=variant, reason=Reason(reason), flag_metadata=metadata
        )

    def resolve_boolean_details(
        self, flag_key: str, default_value: bool, evaluation_context: Optional[EvaluationContext] = None
    ) -> FlagResolutionDetails[bool]:
        return self._resolve("boolean", flag_key, default_value, evaluation_context)

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: Optional[EvaluationContext] = None
    ) -> FlagResolutionDetails[str]:
        return self._resolve("string", flag_key, default_value, evaluation_context)

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: Optional[EvaluationContext] = None
    ) -> FlagResolutionDetails[int]:
        return self._resolve("integer", flag_key, default_value, evaluation_context)

    def resolve_float_details(
        self, flag_key: str, default_value: float, evaluation_context: Optional[EvaluationContext] = None
    ) -> FlagResolutionDetails[float]:
        return self._resolve("float", flag_key, default_value, evaluation_context)

    def resolve_object_details(
        self, flag_key: str, default_value: Any, evaluation_context: Optional[EvaluationContext] = None
    ) -> FlagResolutionDetails[Any]:
        return self._resolve("object", flag_key, default_value, evaluation_context)
