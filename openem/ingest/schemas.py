"""Shapes of the device API (telemetry batches are validated item by item in items.py)."""

from __future__ import annotations

import base64
import binascii
import uuid

from pydantic import BaseModel, ConfigDict, Field, field_validator


class PairRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    serial: str = Field(min_length=1, max_length=64)
    code: str = Field(min_length=4, max_length=32)
    public_key: str = Field(description="Raw 32-byte Ed25519 public key, base64")

    @field_validator("public_key")
    @classmethod
    def _base64(cls, value: str) -> str:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as error:
            raise ValueError("public_key must be base64") from error
        if len(raw) != 32:
            raise ValueError("public_key must be a raw 32-byte Ed25519 key")
        return value


class PairResponse(BaseModel):
    device_id: uuid.UUID
    signature_label: str = "openem"
    covered_components: list[str] = ["@method", "@path", "content-digest"]


class InboxAck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[int] = Field(min_length=1, max_length=500)
