#!/usr/bin/env python3
"""Check the event JSON Schemas against the decoder's fixtures.

Every fixture in tests/fixtures/events/valid must pass its type's schema, and
every fixture in tests/fixtures/events/invalid must fail it, except the few
listed in DECODER_ONLY: rules the C decoder (ingest/event.c) checks that JSON
Schema cannot say. Fixtures that are not JSON at all are skipped.

    python3 schemas/events/check_fixtures.py      # needs the jsonschema package

Exit status 0 when the schemas and the fixtures agree.
"""
import json
import pathlib
import sys

import jsonschema
from referencing import Registry, Resource

HERE = pathlib.Path(__file__).resolve().parent
FIXTURES = HERE.parent.parent / "tests" / "fixtures" / "events"

# Invalid fixtures that a schema validator accepts, and why.
DECODER_ONLY = {
    "envelope.time-impossible-date": "a date that does not exist (2026-02-30)",
    "subscription.ends_at-bad": "an hour that does not exist (25:00)",
    "plan.token_limit-exponent": "1e3 is an integer to JSON Schema, a real to the decoder",
    "plan.token_limit-integral-real": "10.0 is an integer to JSON Schema, a real to the decoder",
    "interaction.output_tokens-exponent": "1e3 is an integer to JSON Schema, a real to the decoder",
    "interaction.cached_tokens-over-input": "cached_tokens <= input_tokens compares two fields",
    "interaction.cached_tokens-without-input": "cached_tokens <= input_tokens compares two fields",
    "interaction.tenant-mismatch": "data.tenant_id == subject compares two fields",
    "feedback.tenant-mismatch": "data.tenant_id == subject compares two fields",
    "price.input-too-small": "1e-300 has more than 40 digits written out",
    "tenant.content_retention_days-integral-real": "30.0 is an integer to JSON Schema, a real to the decoder",
}


class NotJson(Exception):
    pass


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise NotJson("duplicate key")
    return dict(pairs)


def no_constants(name):
    raise NotJson(name)


def has_nul(v):
    """jansson (and so the decoder) refuses U+0000 in strings and keys."""
    if isinstance(v, str):
        return "\x00" in v
    if isinstance(v, dict):
        return any(has_nul(k) or has_nul(x) for k, x in v.items())
    if isinstance(v, list):
        return any(has_nul(x) for x in v)
    return False


def load_event(path):
    """The fixture as Python data, or NotJson where jansson would not parse it."""
    try:
        text = path.read_bytes().decode("utf-8")
        ev = json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constants)
        return NotJson if has_nul(text) or has_nul(ev) else ev
    except (UnicodeDecodeError, ValueError, NotJson, RecursionError):
        return NotJson


def main():
    schemas = {p.name: json.loads(p.read_text("utf-8")) for p in HERE.glob("*.schema.json")}
    registry = Registry().with_resources(
        (s["$id"], Resource.from_contents(s)) for s in schemas.values())
    envelope = schemas["envelope.schema.json"]
    types = envelope["properties"]["type"]["enum"]
    validators = {name: jsonschema.Draft202012Validator(schemas[name + ".schema.json"],
                                                        registry=registry)
                  for name in types}
    env_validator = jsonschema.Draft202012Validator(envelope, registry=registry)
    for s in schemas.values():
        jsonschema.Draft202012Validator.check_schema(s)

    def errors(ev):
        t = ev.get("type") if isinstance(ev, dict) else None
        v = validators.get(t) if isinstance(t, str) else None
        return list((v or env_validator).iter_errors(ev))

    problems, counts = [], {"valid": 0, "invalid": 0, "skipped": 0}
    for path in sorted((FIXTURES / "valid").glob("*.json")):
        ev = load_event(path)
        errs = ["not JSON"] if ev is NotJson else [e.message for e in errors(ev)]
        if errs:
            problems.append(f"valid/{path.name} fails its schema: {errs[0]}")
        counts["valid"] += 1
    for path in sorted((FIXTURES / "invalid").glob("*.json")):
        ev = load_event(path)
        if ev is NotJson:
            counts["skipped"] += 1
            continue
        counts["invalid"] += 1
        passes = not errors(ev)
        if passes and path.stem not in DECODER_ONLY:
            problems.append(f"invalid/{path.name} passes its schema")
        if not passes and path.stem in DECODER_ONLY:
            problems.append(f"invalid/{path.name} is in DECODER_ONLY but fails its schema")
    for p in problems:
        print(p)
    print(f"{counts['valid'] + counts['invalid'] - len(problems)} passed, {len(problems)} failed "
          f"({counts['valid']} valid and {counts['invalid']} invalid fixtures, "
          f"{counts['skipped']} not JSON skipped)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
