#!/usr/bin/env python3
"""Pre-deploy hook of checkout (contracts/checkout.yaml), run by `strata check`.

Reads the effective configuration of checkout as JSON on stdin; STRATA_TARGET (ENV/PROVIDER/REGION)
and STRATA_SERVICE name what it is. Exits 0 when the configuration is fit to deploy, 1 with one
line per problem on stderr when it is not, 2 when it is called wrongly. Standard library only.

The timeout checks are strict in prod only: staging keeps a raised client timeout while the PSP
sandbox is slow (layers/target/staging/aws/us-east-1/checkout.yaml), and that is allowed there.
"""
import json
import os
import re
import sys

# The storefront gives up on a checkout call after 30s; a request and all its retries must fit.
PROD_MAX_CLIENT_TIMEOUT_MS = 10_000
PROD_MAX_RETRY_BUDGET_MS = 30_000

_UNITS_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000}


def duration_ms(value, name):
    """`5s`, `100ms`, `10m`, `1h` -> milliseconds."""
    m = re.fullmatch(r"([0-9]+)(ms|s|m|h)", str(value))
    if not m:
        raise ValueError(f"{name} = {value!r} is not a duration like 5s or 100ms")
    return int(m.group(1)) * _UNITS_MS[m.group(2)]


def get(config, dotted):
    node = config
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            raise KeyError(dotted)
        node = node[key]
    return node


def problems(config, env):
    found = []
    try:
        timeout = duration_ms(get(config, "http.client.timeout"), "http.client.timeout")
        retries = int(get(config, "http.client.retries"))
        backoff = duration_ms(get(config, "http.client.retry_backoff"), "http.client.retry_backoff")
    except KeyError as e:
        return [f"checkout: {e.args[0]} is not set"]
    except ValueError as e:
        return [f"checkout: {e}"]
    if env == "prod":
        if timeout > PROD_MAX_CLIENT_TIMEOUT_MS:
            found.append(
                f"checkout: http.client.timeout is {timeout // 1000}s in prod; "
                f"at most {PROD_MAX_CLIENT_TIMEOUT_MS // 1000}s (the PSP call is bounded by upstreams.payments_gateway.timeout)"
            )
        budget = timeout * (retries + 1) + backoff * retries
        if budget > PROD_MAX_RETRY_BUDGET_MS:
            found.append(
                f"checkout: a call with its retries may take {budget / 1000:g}s in prod "
                f"(timeout x (retries + 1) + backoff x retries); the storefront gives up after "
                f"{PROD_MAX_RETRY_BUDGET_MS // 1000}s"
            )
    return found


def main():
    target = os.environ.get("STRATA_TARGET", "")
    service = os.environ.get("STRATA_SERVICE", "")
    if target.count("/") != 2:
        print("check_checkout.py: STRATA_TARGET must be ENV/PROVIDER/REGION (run by `strata check`)", file=sys.stderr)
        return 2
    if service and service != "checkout":
        print(f"check_checkout.py: this hook checks checkout, not {service}", file=sys.stderr)
        return 2
    try:
        config = json.load(sys.stdin)
    except json.JSONDecodeError as e:
        print(f"check_checkout.py: stdin is not JSON: {e}", file=sys.stderr)
        return 2
    if not isinstance(config, dict):
        print("check_checkout.py: stdin must be a JSON object (the configuration of checkout)", file=sys.stderr)
        return 2
    env = target.split("/")[0]
    found = problems(config, env)
    for line in found:
        print(f"{line} [{target}]", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
