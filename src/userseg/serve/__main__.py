"""``python -m userseg.serve > docs/openapi.json``: print the service's OpenAPI document."""

from userseg.serve.app import openapi_json

print(openapi_json(), end="")
