"""JSON round trip of a model's config dataclass, tagged with its ``model_type``.

Checkpoints and registered models store a model's config beside its weights as
``{"model_type": <tag>, <field>: <value>, …}``. :class:`JsonConfig` gives a frozen
config dataclass :meth:`~JsonConfig.to_json` and a :meth:`~JsonConfig.from_json` that
refuses, with :class:`~exprflow.errors.InputError`, a document that is not a JSON
object, names another ``model_type``, or has unknown or bad fields.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, fields
from typing import Any, ClassVar, Self

from exprflow.errors import InputError

__all__ = ["JsonConfig"]


class JsonConfig:
    """Mixin for a config dataclass: ``to_dict``/``to_json``/``from_json`` with a type tag.

    Subclasses are dataclasses that set the class variable ``model_type``.
    """

    model_type: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict including ``model_type``."""
        return {"model_type": self.model_type, **asdict(self)}  # type: ignore[call-overload]

    def to_json(self) -> str:
        """JSON text of :meth:`to_dict` (sorted keys)."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | Mapping[str, Any], source: str = "config") -> Self:
        """Read a config written by :meth:`to_json` (text or the parsed mapping).

        Parameters
        ----------
        text : str or mapping
            The JSON document or its parsed mapping.
        source : str, optional
            File or record named in errors. Default ``"config"``.

        Returns
        -------
        An instance of ``cls``.

        Raises
        ------
        InputError
            When the document is not a JSON object, names another ``model_type``, or has
            unknown or bad fields.
        """
        fix = f"write the config with {cls.__name__}.to_json()."
        try:
            doc = dict(json.loads(text)) if isinstance(text, str) else dict(text)
        except (ValueError, TypeError) as exc:
            raise InputError(
                source, f"config is not JSON, or not a JSON object ({exc}).", fix=fix
            ) from None
        if doc.get("model_type") != cls.model_type:
            raise InputError(
                source,
                f"model_type is {doc.get('model_type')!r}, expected {cls.model_type!r}.",
                fix=fix,
            )
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(doc) - known - {"model_type"})
        if unknown:
            raise InputError(source, f"unknown config fields {unknown}.", fix=fix)
        try:
            return cls(**{k: v for k, v in doc.items() if k in known})
        except (TypeError, ValueError) as exc:
            raise InputError(source, f"bad config ({exc}).", fix=fix) from None
