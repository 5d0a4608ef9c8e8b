"""The OpenAPI document of one registry version: its record schema, Nokor's API and the GovStack Data API."""

from __future__ import annotations

import copy
from typing import Any

from nokor.kit.errors import PROBLEM_SCHEMA
from nokor.registries.schemas import RegistryRead, SchemaVersionRead


def _openapi_schema(json_schema: dict[str, Any]) -> dict[str, Any]:
    """The record schema as an OpenAPI 3.1 schema object (OpenAPI 3.1 speaks JSON Schema 2020-12)."""
    schema = copy.deepcopy(json_schema)
    schema.pop("$schema", None)
    return schema


def registry_openapi(registry: RegistryRead, version: SchemaVersionRead, *, govstack_prefix: str) -> dict[str, Any]:
    """An OpenAPI 3.1 document for ``registry`` at ``version``; paths are relative to the server root."""
    name, number = registry.name, version.version
    base = f"/api/v1/registries/{name}"
    data = f"{govstack_prefix}/data/{name}/{number}"
    record_ref = {"$ref": "#/components/schemas/Record"}
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    errors = {str(s): {"description": d, "content": problem} for s, d in (
        (401, "Not authenticated"), (403, "Not permitted"), (404, "Registry, version or record not found"),
        (409, "Conflicts with the record's state (stale revision, duplicate key, unpublished version)"),
        (422, "The data breaks the schema; each error names the JSON pointer of the bad field"))}
    stored = {
        "type": "object",
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "registry": {"type": "string"},
            "version": {"type": "string"},
            "revision": {"type": "integer"},
            "data": record_ref,
            "withheld_fields": {"type": "array", "items": {"type": "string"}},
            "written_at": {"type": "string", "format": "date-time"},
            "written_by": {"type": "string"},
            "reason": {"type": ["string", "null"]},
            "deleted": {"type": "boolean"},
        },
    }
    im_header = {"name": "Information-Mediator-Client", "in": "header", "required": True,
                 "schema": {"type": "string"}, "example": "KH/GOV/MOC/sme-portal"}
    purpose = {"name": "purpose", "in": "query", "required": False, "schema": {"type": "string"},
               "description": "Why personal data is read; without it personal-data fields "
                              f"({', '.join(version.personal_fields) or 'none'}) are left out."}
    filters = [{"name": f"f.{field}", "in": "query", "required": False, "schema": {"type": "string"},
                "description": f"Filter on {field}; add .gte, .lte or .prefix for ranges and prefixes"}
               for field in version.searchable_fields]
    content = {"application/json": {"schema": {"type": "object", "properties": {"content": record_ref}}}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{registry.title.get('en') or name} — registry {name} {number}",
            "version": number,
            "description": f"Records of the registry `{name}` under schema version {number} ({version.state}). "
                           "Searchable fields: " + (", ".join(version.searchable_fields) or "none") + ". "
                           "Personal-data fields: " + (", ".join(version.personal_fields) or "none") + ".",
        },
        "components": {
            "schemas": {"Record": _openapi_schema(version.json_schema), "StoredRecord": stored,
                        "Problem": PROBLEM_SCHEMA},
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "Authorization"}},
        },
        "security": [{"apiKey": []}],
        "paths": {
            f"{base}/records": {
                "get": {"summary": "Search records", "parameters": [
                    *filters, purpose,
                    {"name": "q", "in": "query", "schema": {"type": "string"},
                     "description": "Prefix of any searchable text field, case ignored"},
                    {"name": "sort", "in": "query", "schema": {"type": "string"},
                     "description": "A searchable field, - for descending"},
                    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 200}}],
                    "responses": {"200": {"description": "One page", "content": {"application/json": {"schema": {
                        "type": "object", "properties": {
                            "items": {"type": "array", "items": {"$ref": "#/components/schemas/StoredRecord"}},
                            "next_cursor": {"type": ["string", "null"]}}}}}}, **errors}},
                "post": {"summary": "Create a record", "requestBody": {"required": True, "content": {
                    "application/json": {"schema": {"type": "object", "required": ["data"], "properties": {
                        "data": record_ref, "reason": {"type": "string"}}}}}},
                    "responses": {"201": {"description": "Created", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/StoredRecord"}}}}, **errors}},
            },
            f"{base}/records/{{record_id}}": {
                "parameters": [{"name": "record_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "get": {"summary": "Read a record", "parameters": [purpose], "responses": {
                    "200": {"description": "The record", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/StoredRecord"}}}}, **errors}},
                "put": {"summary": "Replace a record (optimistic lock on revision)", "requestBody": {
                    "required": True, "content": {"application/json": {"schema": {"type": "object", "properties": {
                        "data": record_ref, "revision": {"type": "integer"}, "reason": {"type": "string"}}}}}},
                    "responses": {"200": {"description": "The new version"}, **errors}},
            },
            f"{data}": {"get": {"summary": "GovStack list", "parameters": [im_header], "responses": {
                "200": {"description": "count, next, previous and results"}, **errors}}},
            f"{data}/create": {"post": {"summary": "GovStack create", "parameters": [im_header], "requestBody": {
                "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "write": {"type": "object", "properties": {"content": record_ref}}}}}}},
                "responses": {"200": {"description": "Created", "content": content}, **errors}}},
            f"{data}/read": {"post": {"summary": "GovStack read", "parameters": [im_header],
                                      "responses": {"200": {"description": "Found", "content": content}, **errors}}},
        },
    }
