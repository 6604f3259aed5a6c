"""Every route of the project, and a concrete path for each, for the tests that walk them."""

import re
from collections.abc import Iterator

from django.urls import URLPattern, URLResolver, get_resolver


def all_routes(patterns=None, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            yield from all_routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern


def concrete(route: str, *, uuid: str, text: str = "x") -> str:
    """The route with its parameters filled: `uuid` for ids, 1 for integers, `text` else."""
    path = re.sub(r"<uuid:[^>]+>", uuid, route)
    path = re.sub(r"<int:[^>]+>", "1", path)
    path = re.sub(r"<(?:str|slug|path):[^>]+>", text, path)
    return "/" + path.lstrip("^").rstrip("$")
