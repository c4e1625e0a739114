//! The OpenAPI 3.1 document served at `/openapi.json`, built by hand beside the router
//! (`routes::router`): a unit test checks that every `.route(…)` of the router is
//! described here, and the HTTP suite that every path described here is routed.

use serde_json::{Value, json};

fn param(name: &str, location: &str, required: bool, schema: Value, description: &str) -> Value {
    json!({
        "name": name,
        "in": location,
        "required": required,
        "schema": schema,
        "description": description,
    })
}

fn path_param(name: &str, description: &str) -> Value {
    param(name, "path", true, json!({"type": "string"}), description)
}

fn query(name: &str, schema: Value, description: &str) -> Value {
    param(name, "query", false, schema, description)
}

fn string() -> Value {
    json!({"type": "string"})
}

fn err(name: &str) -> Value {
    json!({"$ref": format!("#/components/responses/{name}")})
}

fn ok_json(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"type": "object"}}}})
}

/// One authenticated GET operation answering JSON, with the usual error responses and
/// `extra` ones (e.g. `["BadRequest", "NotFound"]`).
fn get(id: &str, summary: &str, parameters: Vec<Value>, ok: Value, extra: &[&str]) -> Value {
    let mut responses = serde_json::Map::new();
    responses.insert("200".into(), ok);
    for (code, name) in [
        ("400", "BadRequest"),
        ("304", "NotModified"),
        ("404", "NotFound"),
        ("422", "Unprocessable"),
        ("501", "RevealUnavailable"),
    ] {
        if extra.contains(&name) {
            responses.insert(code.into(), err(name));
        }
    }
    responses.insert("401".into(), err("Unauthorized"));
    responses.insert("403".into(), err("Forbidden"));
    responses.insert("431".into(), err("HeadersTooLarge"));
    responses.insert("503".into(), err("Unavailable"));
    json!({"get": {
        "operationId": id,
        "summary": summary,
        "parameters": parameters,
        "responses": responses,
    }})
}

/// One authenticated write operation (`method` `post` or `delete`) with a JSON request
/// body when `body` is given, its success answers `ok` (status, description) and the
/// error answers named in `errors` (`("409", "Conflict")`), besides 401, 403 and 503.
fn write_op(
    method: &str,
    id: &str,
    summary: &str,
    parameters: Vec<Value>,
    body: Option<&str>,
    ok: &[(&str, &str)],
    errors: &[(&str, &str)],
) -> (String, Value) {
    let mut responses = serde_json::Map::new();
    for (code, description) in ok {
        responses.insert((*code).into(), ok_json(description));
    }
    for (code, name) in errors {
        responses.insert((*code).into(), err(name));
    }
    responses.insert("401".into(), err("Unauthorized"));
    responses.insert("403".into(), err("Forbidden"));
    responses.insert("503".into(), err("Unavailable"));
    let mut op = json!({
        "operationId": id,
        "summary": summary,
        "parameters": parameters,
        "responses": responses,
    });
    if let Some(description) = body {
        op["requestBody"] = json!({
            "required": true,
            "description": description,
            "content": {"application/json": {"schema": {"type": "object"}}},
        });
    }
    (method.to_string(), op)
}

/// A path item of several operations.
fn item(ops: Vec<(String, Value)>) -> Value {
    Value::Object(ops.into_iter().collect())
}

/// The write endpoints (changes, validation, approvals, tokens).
fn write_paths() -> Vec<(&'static str, Value)> {
    let id = path_param("id", "The request's id.");
    let changeset = "A changeset: `{base?, message?, changes: [{set: SERVICE:PATH, layer: LEVEL, value: V} | {unset: SERVICE:PATH, layer: LEVEL}]}` (the fields of `strata apply`'s CHANGESET.yaml).";
    vec![
        (
            "/v1/changes",
            item(vec![write_op(
                "post",
                "postChanges",
                "Apply a changeset (201), or propose it as a change request when an approval rule covers it (202).",
                vec![],
                Some(changeset),
                &[
                    (
                        "201",
                        "`{revision, rebased, unchanged: false}`: the new revision.",
                    ),
                    (
                        "200",
                        "`{revision, rebased: false, unchanged: true}`: the head already has these values.",
                    ),
                    (
                        "202",
                        "`{request}`: the change request created, waiting for approvals.",
                    ),
                ],
                &[
                    ("400", "BadRequest"),
                    ("409", "Conflict"),
                    ("422", "Invalid"),
                    ("423", "Frozen"),
                ],
            )]),
        ),
        (
            "/v1/validate",
            item(vec![write_op(
                "post",
                "validate",
                "The `strata check` report of a changeset applied (in memory) on a revision, for the edited services where the edits reach.",
                vec![],
                Some(
                    "`{changeset, base?}`: `base` (default: the changeset's own, else the head) is the revision it is applied on.",
                ),
                &[(
                    "200",
                    "`{revision, result: clean|findings, exit_code: 0|1, report}`; `report` is the JSON of `strata check --format json`.",
                )],
                &[
                    ("400", "BadRequest"),
                    ("404", "NotFound"),
                    ("422", "Invalid"),
                ],
            )]),
        ),
        (
            "/v1/requests/{id}/approve",
            item(vec![write_op(
                "post",
                "approveRequest",
                "Approve a change request; the approval that meets every rule applies it.",
                vec![id.clone()],
                None,
                &[(
                    "200",
                    "`{request, applied, missing}`, with `revision` and `rebased` when this approval applied it.",
                )],
                &[("404", "NotFound"), ("409", "Conflict")],
            )]),
        ),
        (
            "/v1/requests/{id}/reject",
            item(vec![write_op(
                "post",
                "rejectRequest",
                "Reject a change request (its author withdraws it).",
                vec![id],
                Some("`{reason}`"),
                &[("200", "`{request}`")],
                &[
                    ("400", "BadRequest"),
                    ("404", "NotFound"),
                    ("409", "Conflict"),
                ],
            )]),
        ),
        (
            "/v1/tokens",
            item(vec![
                write_op(
                    "get",
                    "listTokens",
                    "API tokens, never their secrets (admins only).",
                    vec![],
                    None,
                    &[(
                        "200",
                        "`{tokens: [{id, principal, created_ms, expires_ms, revoked_ms, state}]}`.",
                    )],
                    &[],
                ),
                write_op(
                    "post",
                    "createToken",
                    "Create an API token (admins only); it is shown this once.",
                    vec![],
                    Some("`{principal, expires?}`; `expires` is a duration (`90d`, `12h`)."),
                    &[("201", "`{token, id, principal, created_ms, expires_ms}`.")],
                    &[("400", "BadRequest")],
                ),
            ]),
        ),
        (
            "/v1/tokens/{id}",
            item(vec![write_op(
                "delete",
                "revokeToken",
                "Revoke an API token (admins only).",
                vec![path_param(
                    "id",
                    "The token's id (the 12 characters after `strata_`).",
                )],
                None,
                &[("200", "`{token}`: the token, revoked.")],
                &[("404", "NotFound")],
            )]),
        ),
    ]
}

/// The document.
pub(crate) fn document() -> Value {
    let env = path_param(
        "env",
        "An environment; its declared target is chosen by `provider` and `region`.",
    );
    let service = path_param("service", "A service of the project.");
    let provider = query("provider", string(), "Narrows the target by provider.");
    let region = query("region", string(), "Narrows the target by region.");
    let rev = query(
        "rev",
        string(),
        "A past revision (id, unique prefix or tag); default the head.",
    );
    let limit = query(
        "limit",
        json!({"type": "integer", "minimum": 1, "maximum": crate::api::MAX_LIMIT}),
        "At most this many items (default 100).",
    );
    let reveal = query(
        "reveal",
        json!({"type": "boolean"}),
        "Decrypt secrets the principal may `read-secret` (audited; `Cache-Control: no-store`, no ETag; 403 when one may not be read).",
    );
    let if_none_match = param(
        "If-None-Match",
        "header",
        false,
        string(),
        "An ETag of an earlier answer: 304 when it still holds.",
    );
    let anonymous = |id: &str, summary: &str, body: Value| {
        json!({"get": {
            "operationId": id,
            "summary": summary,
            "security": [],
            "responses": {"200": body, "431": err("HeadersTooLarge"), "503": err("Unavailable")},
        }})
    };
    let status_body = json!({
        "description": "The status.",
        "content": {"application/json": {"schema": {
            "type": "object",
            "required": ["status"],
            "properties": {"status": {"type": "string"}, "reason": {"type": "string"}},
        }}},
    });
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Strata",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Configuration reads, history, audit and change requests (see docs/server.md).",
        },
        "security": [{"bearer": []}],
        "paths": {
            "/healthz": anonymous("healthz", "Liveness: always ok.", status_body.clone()),
            "/readyz": anonymous("readyz", "Readiness: ok when the store answers, else 503 degraded.", status_body),
            "/openapi.json": get("openapi", "This document.", vec![], ok_json("The OpenAPI document."), &[]),
            "/metrics": get("metrics", "Prometheus metrics (text format 0.0.4); needs `read` somewhere.", vec![],
                json!({"description": "The metrics.", "content": {"text/plain": {"schema": {"type": "string"}}}}), &[]),
            "/v1/config/{env}/{service}": get(
                "getConfig",
                "The effective configuration of a service for a target, secrets redacted.",
                vec![env.clone(), service.clone(), provider.clone(), region.clone(), rev.clone(), reveal.clone(), if_none_match.clone()],
                ok_json("The effective configuration (the JSON of `strata resolve`); `ETag`, `Strata-Revision` and `Strata-Target` headers."),
                &["BadRequest", "NotModified", "NotFound", "Unprocessable", "RevealUnavailable"],
            ),
            "/v1/config/{env}/{service}/{path}": get(
                "getParam",
                "One parameter of the effective configuration.",
                vec![env, service, path_param("path", "`db.pool.max_size` or `db/pool/max_size`."), provider, region, rev, reveal, if_none_match],
                ok_json("`{service, target, revision, path, value}`."),
                &["BadRequest", "NotModified", "NotFound", "Unprocessable", "RevealUnavailable"],
            ),
            "/v1/revisions": get(
                "listRevisions",
                "Revisions, newest first.",
                vec![limit.clone()],
                ok_json("`{revisions: [{id, seq, parent, author, message, timestamp_ms, source, labels, tags}]}`."),
                &["BadRequest"],
            ),
            "/v1/revisions/{id}": get(
                "getRevision",
                "One revision: its files and parameter changes.",
                vec![path_param("id", "An id or unique prefix, a tag, `HEAD`, `HEAD~N` or `#SEQ`.")],
                ok_json("`{revision, tags, files: [{kind, path}], params: [{param, file}]}`."),
                &["BadRequest", "NotFound"],
            ),
            "/v1/diff": get(
                "diff",
                "The semantic diff between two revisions (as `strata diff --json`), limited to what the principal may read.",
                vec![
                    param("from", "query", true, string(), "The old revision."),
                    query("to", string(), "The new revision (default `HEAD`)."),
                    query("target", string(), "Only this target (`env/provider/region`)."),
                    query("service", string(), "Only this service."),
                ],
                ok_json("`{from, to, diffs: [{target, service, changes: [{param, kind, old, new, old_at, new_at}], error}], hidden}`."),
                &["BadRequest", "NotFound"],
            ),
            "/v1/audit": get(
                "audit",
                "Audit entries, newest first (admins only).",
                vec![
                    query("since", string(), "A duration (`24h`, `7d`) or `#SEQ` (entries after it)."),
                    query("principal", string(), "Only this principal's entries."),
                    query("param", string(), "Only entries naming `service:path` or under it."),
                    query("action", string(), "Only entries of this action."),
                    limit.clone(),
                ],
                ok_json("`{entries: [...]}`."),
                &["BadRequest"],
            ),
            "/v1/requests": get(
                "listRequests",
                "Change requests.",
                vec![query("pending", json!({"type": "boolean"}), "Only open (pending or approved) requests.")],
                ok_json("`{requests: [...]}`."),
                &["BadRequest"],
            ),
            "/v1/requests/{id}": get(
                "getRequest",
                "One change request with its approvals.",
                vec![path_param("id", "The request's id.")],
                ok_json("`{request: {...}}`."),
                &["NotFound"],
            ),
            "/v1/drift": drift_path(),
            "/v1/actual/{env}/{service}": actual_path(),
        },
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token from `strata token create` (`strata_…`), or a JWT of the identity provider configured in `policies/access.yaml` (`identity.jwt`; its roles claim maps to Strata roles).",
                },
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {
                        "type": "object",
                        "required": ["code", "message", "details"],
                        "properties": {
                            "code": {"type": "string", "description": "A stable code: `bad_request`, `unauthorized`, `forbidden`, `not_found`, …"},
                            "message": {"type": "string"},
                            "details": {"type": "object", "additionalProperties": true},
                        },
                    }},
                },
            },
            "responses": {
                "NotModified": {"description": "The `If-None-Match` ETag still holds (no body)."},
                "BadRequest": error_response("A bad path, query string or parameter."),
                "Unauthorized": error_response("No token, or a malformed, unknown, revoked or expired one; or a JWT that is refused (`details.reason`: expired, wrong audience, bad signature, …)."),
                "Forbidden": error_response("The access policy denies it (`details.rule`), or the authorization webhook does (`details.webhook`)."),
                "NotFound": error_response("Unknown route, service, target, revision, parameter or request."),
                "HeadersTooLarge": error_response("The header block is over 16 KiB or 100 fields (`details.limit`; see docs/server.md, Limits)."),
                "Unprocessable": error_response("The stored configuration does not resolve."),
                "Unavailable": error_response("The store did not answer (`store_unavailable`, with `Retry-After` in seconds; writes always need the store), or holds no revision."),
                "Conflict": error_response("`conflict`: parameters changed since the changeset's base (`details.params`, `details.conflicts`); `already_approved`; `request_closed` (`details.status`)."),
                "Invalid": error_response("`invalid_configuration`: the changeset makes the configuration invalid (`details.findings`, in the shape of the check report's findings)."),
                "Frozen": error_response("`frozen`: a freeze refuses the change (`details: {freeze, scope, until_ms, params, override}`); freezes are not built yet."),
                "RevealUnavailable": error_response("`reveal_unavailable`: the server holds no age identity to decrypt secrets."),
            },
        },
    });
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (path, item) in write_paths() {
            paths.insert(path.to_string(), item);
        }
    }
    doc["paths"]["/v1/watch/{env}/{service}"] = watch_path();
    doc
}

// ---- Drift (`crate::drift`) ----

/// `GET /v1/drift`.
fn drift_path() -> Value {
    let list = |name: &str, what: &str| query(name, string(), what);
    get(
        "drift",
        "The drift report of `strata drift` (JSON as `--json`, or text, Markdown, summary) for the services the principal may read in every compared environment.",
        vec![
            list(
                "targets",
                "Only these targets, comma-separated (`target` for one); not with `envs`.",
            ),
            list(
                "envs",
                "Only the targets of these environments, comma-separated.",
            ),
            list(
                "services",
                "Only these services, comma-separated (`service` for one).",
            ),
            query(
                "reference",
                string(),
                "The environment the others are compared with (default: the last selected in promotion order).",
            ),
            query(
                "rev",
                string(),
                "A past revision (id, unique prefix or tag); default the head.",
            ),
            query(
                "today",
                json!({"type": "string", "format": "date"}),
                "The date rule expiry is judged on (default: today, UTC).",
            ),
            query(
                "all",
                json!({"type": "boolean"}),
                "Text and Markdown: also list the expected differences (JSON always does).",
            ),
            query(
                "format",
                json!({"type": "string", "enum": ["json", "text", "markdown", "md", "summary"]}),
                "The report format (default json).",
            ),
        ],
        json!({
            "description": "`{version, reference, today, summary, fails, findings: [...], dead_rules, notes, revision, hidden}` (docs/drift.md), or the text, Markdown or summary report; `Strata-Revision` and `Strata-Hidden` headers.",
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "text/plain": {"schema": {"type": "string"}},
                "text/markdown": {"schema": {"type": "string"}},
            },
        }),
        &["BadRequest", "NotFound", "Unprocessable"],
    )
}

/// `GET` and `POST /v1/actual/{env}/{service}`.
fn actual_path() -> Value {
    let parameters = vec![
        path_param(
            "env",
            "An environment; its declared target is chosen by `provider` and `region`.",
        ),
        path_param("service", "A service of the project."),
        query("provider", string(), "Narrows the target by provider."),
        query("region", string(), "Narrows the target by region."),
        query(
            "today",
            json!({"type": "string", "format": "date"}),
            "The date rule expiry is judged on (default: today, UTC).",
        ),
    ];
    let ok = ok_json(
        "The desired-against-actual report of `strata drift --actual --json` plus `revision` (the head compared) and `actual: {target, service, principal, time_ms, revision, digest, configuration}` (secret values `<redacted>`).",
    );
    let mut read = get(
        "getActual",
        "The last configuration the service reported on the target, compared with the head's desired configuration.",
        parameters.clone(),
        ok.clone(),
        &["BadRequest", "NotFound", "Unprocessable"],
    );
    let mut report = get(
        "reportActual",
        "A running service reports the configuration it runs with (a JSON object); secret values are never kept or shown. Kept as the latest of its target and service, and answered compared with the desired configuration.",
        parameters,
        ok,
        &["BadRequest", "NotFound", "Unprocessable"],
    )["get"]
        .take();
    report["requestBody"] = json!({
        "required": true,
        "content": {"application/json": {"schema": {"type": "object"}}},
    });
    report["responses"]["413"] = error_response("The body is over the size limit.");
    read["post"] = report;
    read
}

/// `GET /v1/watch/{env}/{service}` (server-sent events or a long poll, see `watch.rs`).
fn watch_path() -> Value {
    let mut op = get(
        "watchConfig",
        "Waits for the effective configuration of a service for a target to change: server-sent events with `Accept: text/event-stream`, else a long poll.",
        vec![
            path_param(
                "env",
                "An environment; its declared target is chosen by `provider` and `region`.",
            ),
            path_param("service", "A service of the project."),
            query("provider", string(), "Narrows the target by provider."),
            query("region", string(), "Narrows the target by region."),
            query(
                "wait",
                json!({"type": "number", "minimum": 0}),
                "Long poll: seconds to wait for a change (default 25; at most the request timeout less 2 s).",
            ),
            param(
                "If-None-Match",
                "header",
                false,
                string(),
                "Long poll: the ETag of the configuration the client holds; without it the answer is immediate.",
            ),
            param(
                "Last-Event-ID",
                "header",
                false,
                string(),
                "Event stream: the `id` (ETag) of the last event received; no first event when its configuration is current.",
            ),
            param(
                "Accept",
                "header",
                false,
                string(),
                "`text/event-stream` for server-sent events.",
            ),
        ],
        json!({
            "description": "The configuration (long poll: as soon as it differs from `If-None-Match`; `ETag`, `Strata-Revision` and `Strata-Target` headers), or an event stream: `event: config` (`id:` the ETag, `data:` the configuration JSON) at once and on each change, `event: error` (`data:` the JSON error) before the stream ends.",
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "text/event-stream": {"schema": {"type": "string"}},
            },
        }),
        &["BadRequest", "NotModified", "NotFound", "Unprocessable"],
    );
    op["get"]["responses"]["304"] = json!({"description": "Long poll: `wait` passed (or the server is shutting down) without a change; `ETag` of the current revision (no body)."});
    op
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `.route("…"` paths of the router's source, with `{*x}` written `{x}`.
    fn routed() -> Vec<String> {
        let src = include_str!("routes.rs");
        let start = src.find("pub fn router(").unwrap_or(0);
        let end = src[start..].find("\n}\n").map_or(src.len(), |e| start + e);
        src[start..end]
            .split(".route(")
            .skip(1)
            .filter_map(|s| s.trim_start().strip_prefix('"')?.split('"').next())
            .map(|p| p.replace("{*", "{"))
            .collect()
    }

    #[test]
    fn every_route_is_described() {
        let doc = document();
        let paths = doc["paths"]
            .as_object()
            .unwrap_or_else(|| panic!("no paths"));
        let routes = routed();
        assert!(routes.len() >= 12, "{routes:?}");
        for r in &routes {
            assert!(
                paths.contains_key(r),
                "{r} is routed but not in /openapi.json"
            );
        }
        for p in paths.keys() {
            assert!(routes.contains(p), "{p} is described but not routed");
        }
    }

    #[test]
    fn every_operation_names_its_path_parameters() {
        let doc = document();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            let ops = item.as_object().unwrap_or_else(|| panic!("{path}"));
            assert!(!ops.is_empty(), "{path}");
            for (method, op) in ops {
                let names: Vec<&str> = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["in"] == "path")
                    .filter_map(|p| p["name"].as_str())
                    .collect();
                let wanted = path.matches('{').count();
                assert_eq!(names.len(), wanted, "{method} {path}");
                for n in names {
                    assert!(path.contains(&format!("{{{n}}}")), "{path}: {n}");
                }
                let ok = op["responses"]
                    .as_object()
                    .is_some_and(|r| r.keys().any(|k| k.starts_with('2')));
                assert!(ok, "{method} {path} has no 2xx answer");
                for code in op["responses"].as_object().into_iter().flatten() {
                    if let Some(r) = code.1["$ref"].as_str() {
                        let name = r.rsplit('/').next().unwrap_or_default();
                        assert!(
                            doc["components"]["responses"][name].is_object(),
                            "{method} {path}: {r}"
                        );
                    }
                }
            }
        }
    }
}
