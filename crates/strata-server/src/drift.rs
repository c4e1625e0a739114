//! Drift over HTTP: `GET /v1/drift` (the report of `strata drift`), and desired against
//! actual, `POST /v1/actual/{env}/{service}` (a running service reports its configuration)
//! and `GET /v1/actual/{env}/{service}` (the last report, compared again with the head).
//!
//! The reports are `strata_core::drift`'s, the same the CLI prints, so pipelines can
//! switch between the two. A principal sees only the services it may `read` in every
//! compared environment (`hidden` counts the others). Secret values never leave the
//! server: schema secrets are redacted by the report itself, any other `ENC[…]` value here,
//! and a reported configuration loses its secret values before it is compared or kept.
//! Reports between environments are cached per (revision, query), bounded.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use strata_core::access::Action;
use strata_core::drift::actual::{ActualOptions, compare, redact_secrets};
use strata_core::drift::collect::{
    self as drift_collect, DriftError, RunOptions, SecretHandling, Selection,
};
use strata_core::drift::policy::PolicyDate;
use strata_core::drift::report::{
    Collected, Detail, JsonReport, REDACTED, Suggestion, json_report, markdown, summary_line, text,
};
use strata_core::parse::{Format, ParseOptions, parse_document};
use strata_core::project::ProjectConfig;
use strata_core::resolve::ResolveOptions;
use strata_core::value::{Node, Value as CoreValue};
use strata_store::actual::ActualReport;
use strata_store::history::revision_json;

use crate::auth::Judge;
use crate::error::ApiError;
use crate::routes::{authenticate, path_error};
use crate::state::{AppState, Snapshot, blocking};

/// How many reports the cache keeps at most.
const MAX_CACHED: usize = 32;
/// How many bytes of rendered reports the cache keeps at most (the newest report is kept
/// whatever its size).
const MAX_CACHED_BYTES: usize = 64 * 1024 * 1024;

/// What the notes of a drift report tell a reader about comparing secrets.
const HOW_TO_COMPARE: &str = "the server holds no age identity: run `strata drift --identity FILE`";
/// The same, for desired against actual.
const HOW_TO_COMPARE_ACTUAL: &str = "the server keeps no secret value a service reports: compare them with `strata drift --actual FILE --identity FILE`";

/// The report formats of `GET /v1/drift` (those of `strata drift --format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ReportFormat {
    Json,
    Text,
    Markdown,
    Summary,
}

impl ReportFormat {
    fn parse(s: &str) -> Option<ReportFormat> {
        match s {
            "json" => Some(ReportFormat::Json),
            "text" => Some(ReportFormat::Text),
            "markdown" | "md" => Some(ReportFormat::Markdown),
            "summary" => Some(ReportFormat::Summary),
            _ => None,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            ReportFormat::Json => "application/json",
            ReportFormat::Markdown => "text/markdown; charset=utf-8",
            ReportFormat::Text | ReportFormat::Summary => "text/plain; charset=utf-8",
        }
    }
}

/// A rendered report and how to answer it.
struct Rendered {
    bytes: Bytes,
    content_type: &'static str,
}

/// The key of a cached report: everything its bytes depend on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    rev: strata_store::model::RevisionId,
    today: PolicyDate,
    targets: Vec<String>,
    envs: Vec<String>,
    reference: Option<String>,
    /// The services compared (those the principal may read).
    services: Vec<String>,
    hidden: usize,
    dead_rules: bool,
    format: ReportFormat,
    all: bool,
}

type Slot = Arc<tokio::sync::OnceCell<Arc<Rendered>>>;

/// Reports between environments, per (revision, query), oldest dropped first. A report
/// asked for twice at once is computed once.
#[derive(Default)]
pub(crate) struct DriftCache {
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    slots: HashMap<Key, Slot>,
    order: VecDeque<Key>,
}

impl DriftCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The report for `key`, computed by `make` when it is not cached (nor being
    /// computed).
    async fn get_or_make<F>(&self, key: Key, make: F) -> Result<Arc<Rendered>, ApiError>
    where
        F: Future<Output = Result<Arc<Rendered>, ApiError>>,
    {
        let slot = {
            let mut c = self.lock();
            match c.slots.get(&key) {
                Some(s) => s.clone(),
                None => {
                    let s = Slot::default();
                    c.slots.insert(key.clone(), s.clone());
                    c.order.push_back(key.clone());
                    s
                }
            }
        };
        match slot.get_or_try_init(|| make).await {
            Ok(r) => {
                let r = r.clone();
                self.evict(&key);
                Ok(r)
            }
            Err(e) => {
                let mut c = self.lock();
                if c.slots.get(&key).is_some_and(|s| s.get().is_none()) {
                    c.slots.remove(&key);
                    c.order.retain(|k| *k != key);
                }
                Err(e)
            }
        }
    }

    /// Drops the oldest reports (never `keep`) beyond the bounds.
    fn evict(&self, keep: &Key) {
        let mut c = self.lock();
        loop {
            let bytes: usize = c
                .slots
                .values()
                .filter_map(|s| s.get().map(|r| r.bytes.len()))
                .sum();
            if c.slots.len() <= MAX_CACHED && bytes <= MAX_CACHED_BYTES {
                return;
            }
            let Some(pos) = c.order.iter().position(|k| k != keep) else {
                return;
            };
            if let Some(old) = c.order.remove(pos) {
                c.slots.remove(&old);
            }
        }
    }
}

/// `?targets=&envs=&services=&reference=&rev=&today=&all=&format=` (lists are
/// comma-separated; `target` and `service` are accepted for one).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DriftQuery {
    #[serde(alias = "target")]
    targets: Option<String>,
    envs: Option<String>,
    #[serde(alias = "service")]
    services: Option<String>,
    reference: Option<String>,
    rev: Option<String>,
    today: Option<String>,
    all: Option<String>,
    format: Option<String>,
}

/// Splits a comma-separated list, dropping empty items.
fn list(s: Option<&str>) -> Vec<String> {
    s.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

/// `?today=` or the server's clock (UTC).
fn today(asked: Option<&str>) -> Result<PolicyDate, ApiError> {
    match asked.filter(|t| !t.is_empty()) {
        Some(t) => PolicyDate::parse(t).ok_or_else(|| {
            ApiError::bad_request(format!("today `{t}`: write a date as YYYY-MM-DD"))
                .with("parameter", "today")
        }),
        None => Ok(PolicyDate::from_unix_days(
            crate::now_ms().div_euclid(86_400_000),
        )),
    }
}

fn bad_query(e: QueryRejection) -> ApiError {
    ApiError::bad_request(format!("bad query string: {}", e.body_text()))
}

/// A drift error as an answer: unknown names are 404, a selection of nothing 400, an
/// invalid policy or configuration 422.
fn drift_error(e: DriftError, config: &ProjectConfig) -> ApiError {
    let targets = || {
        config
            .targets
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    };
    match e {
        DriftError::UnknownTarget(t) => ApiError::not_found(format!("no declared target `{t}`"))
            .with("parameter", "targets")
            .with("target", t)
            .with("known", targets()),
        DriftError::UnknownEnvironment { name, known } => {
            ApiError::not_found(format!("no declared environment `{name}`"))
                .with("env", name)
                .with("known", known)
        }
        DriftError::UnknownService(s) => ApiError::not_found(format!("no service `{s}`"))
            .with("parameter", "services")
            .with("service", s)
            .with("known", config.services.keys().cloned().collect::<Vec<_>>()),
        DriftError::NothingSelected => {
            ApiError::bad_request("the selection matches no target: widen `targets` or `envs`")
                .with("known", targets())
        }
        DriftError::NoReference(env) => ApiError::bad_request(format!(
            "environment `{env}` has no target to compare with: choose another `reference`"
        ))
        .with("parameter", "reference")
        .with("env", env),
        DriftError::Invalid(d) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_policy",
            format!("the variation policy of this revision is invalid: {d}"),
        ),
        DriftError::Resolve(r) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unresolvable",
            r.to_string(),
        ),
        DriftError::Source { path, message } => {
            ApiError::store_unavailable(format!("cannot read {path} from the store: {message}"))
        }
        DriftError::Secret(m) => ApiError::internal(m),
    }
}

/// Replaces `ENC[…]` values a report shows outside `x-strata-secret` parameters (which
/// the report already redacts) with [`REDACTED`].
fn redact_ciphertexts(c: &mut Collected) {
    let hide = |v: &mut String| {
        if v.contains("ENC[") {
            *v = REDACTED.to_string();
        }
    };
    for about in c.items.iter_mut().filter_map(|i| i.about.as_deref_mut()) {
        about.reference_value.iter_mut().for_each(hide);
        about.value.iter_mut().for_each(hide);
        for s in &mut about.suggestions {
            match s {
                Suggestion::RemoveOverride { becomes, .. } => hide(becomes),
                Suggestion::SetValue { value, .. } => hide(value),
                Suggestion::DeclareVariation { snippet, .. } => hide(snippet),
            }
        }
    }
}

/// The JSON report with what the server adds.
#[derive(serde::Serialize)]
struct Served<'a> {
    #[serde(flatten)]
    report: JsonReport<'a>,
    /// The revision compared.
    revision: Value,
    /// With `GET /v1/drift`: services left out because the principal may not read them.
    #[serde(skip_serializing_if = "Option::is_none")]
    hidden: Option<usize>,
    /// With `/v1/actual`: the report compared.
    #[serde(skip_serializing_if = "Option::is_none")]
    actual: Option<Value>,
}

fn serialize(s: &Served<'_>) -> Result<Bytes, ApiError> {
    serde_json::to_vec(s)
        .map(Bytes::from)
        .map_err(|e| ApiError::internal(format!("cannot serialize the report: {e}")))
}

fn answer(rendered: &Rendered, snap: &Snapshot, hidden: Option<usize>) -> Response {
    let mut res = Response::new(Body::from(rendered.bytes.clone()));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(rendered.content_type),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&snap.rev.id.0.to_hex()) {
        h.insert("strata-revision", v);
    }
    if let Some(n) = hidden {
        h.insert("strata-hidden", HeaderValue::from(n));
    }
    res
}

/// `GET /v1/drift`: the report of `strata drift` for the services the principal may read
/// in every compared environment.
pub(crate) async fn drift(
    State(state): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<DriftQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let judge = crate::api::reader(&state, &headers).await?;
    let head = judge.head().clone();
    let Query(q) = q.map_err(bad_query)?;
    let format = match q.format.as_deref().filter(|f| !f.is_empty()) {
        None => ReportFormat::Json,
        Some(f) => ReportFormat::parse(f).ok_or_else(|| {
            ApiError::bad_request(format!(
                "format `{f}`: choose json, text, markdown or summary"
            ))
            .with("parameter", "format")
        })?,
    };
    let today = today(q.today.as_deref())?;
    let all = match q.all.as_deref() {
        None | Some("" | "false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(
                ApiError::bad_request(format!("all `{other}`: write true or false"))
                    .with("parameter", "all"),
            );
        }
    };
    let (targets, envs, services) = (
        list(q.targets.as_deref()),
        list(q.envs.as_deref()),
        list(q.services.as_deref()),
    );
    if !targets.is_empty() && !envs.is_empty() {
        return Err(ApiError::bad_request(
            "`targets` and `envs` both select targets: give one of them",
        )
        .with("parameter", "targets"));
    }
    let reference = q.reference.filter(|r| !r.is_empty());
    let snap = match q.rev.filter(|r| !r.is_empty()) {
        Some(spec) => state.revision(spec).await?,
        None => head.clone(),
    };
    let selection = Selection {
        services: &services,
        envs: &envs,
        targets: &targets,
        reference: reference.as_deref(),
    };
    // The plan reads `strata.yaml` only (no store call).
    let plan = drift_collect::plan(&snap.project, &selection)
        .map_err(|e| drift_error(e, &snap.project.config))?;
    let compared: Vec<String> = plan
        .environments()
        .into_iter()
        .map(str::to_string)
        .collect();
    let services_planned = plan.services.clone();
    drop(plan);
    let (visible, hidden): (Vec<String>, Vec<String>) = judge
        .run(move |j| {
            services_planned.into_iter().partition(|service| {
                compared
                    .iter()
                    .all(|env| j.decide(Action::Read, env, service, &[]).allowed)
            })
        })
        .await?;
    let key = Key {
        rev: snap.rev.id,
        today,
        targets,
        envs,
        reference,
        // Rules matching nothing are only known when every service is compared.
        dead_rules: services.is_empty() && hidden.is_empty(),
        services: visible,
        hidden: hidden.len(),
        format,
        all,
    };
    let hidden = key.hidden;
    let made = {
        let (snap, key) = (snap.clone(), key.clone());
        async move { blocking(move || render_drift(&snap, &key)).await }
    };
    let rendered = state.drift_cache().get_or_make(key, made).await?;
    Ok(answer(&rendered, &snap, Some(hidden)))
}

/// Computes and renders the report `key` asks for (blocking: reads the store).
fn render_drift(snap: &Snapshot, key: &Key) -> Result<Arc<Rendered>, ApiError> {
    let project = &snap.project;
    let err = |e| drift_error(e, &project.config);
    let mut policy = drift_collect::load_policy(project).map_err(err)?;
    let selection = Selection {
        services: &[],
        envs: &key.envs,
        targets: &key.targets,
        reference: key.reference.as_deref(),
    };
    let mut plan = drift_collect::plan(project, &selection).map_err(err)?;
    plan.services = key.services.clone();
    let secrets = drift_collect::read_schemas(project, &plan.services, &mut policy).map_err(err)?;
    let opts = RunOptions {
        detail: if key.format == ReportFormat::Summary {
            Detail::Counts
        } else {
            Detail::Full
        },
        today: key.today,
        dead_rules: key.dead_rules,
        secrets: SecretHandling {
            reveal: None,
            is_ciphertext: strata_store::crypto::is_ciphertext,
            how_to_compare: HOW_TO_COMPARE,
        },
    };
    let mut collected =
        drift_collect::run(project, &plan, &policy, &secrets, None, &opts).map_err(err)?;
    redact_ciphertexts(&mut collected);
    let bytes = match key.format {
        ReportFormat::Json => serialize(&Served {
            report: json_report(&collected),
            revision: revision_json(&snap.rev),
            hidden: Some(key.hidden),
            actual: None,
        })?,
        ReportFormat::Text => Bytes::from(text(&collected, key.all, &|_, t| t.to_string())),
        ReportFormat::Markdown => Bytes::from(markdown(&collected, key.all)),
        ReportFormat::Summary => Bytes::from(summary_line(&collected)),
    };
    Ok(Arc::new(Rendered {
        bytes,
        content_type: key.format.content_type(),
    }))
}

/// `?provider=&region=&today=`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActualQuery {
    provider: Option<String>,
    region: Option<String>,
    today: Option<String>,
}

/// What both `/v1/actual` methods establish first: the principal may `read` the service
/// in `env`, whose target is chosen by the query.
struct ActualAccess {
    principal: String,
    head: Arc<Snapshot>,
    target: String,
    service: String,
    today: PolicyDate,
}

async fn actual_access(
    state: &AppState,
    headers: &HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
    q: Result<Query<ActualQuery>, QueryRejection>,
) -> Result<ActualAccess, ApiError> {
    let caller = authenticate(state, headers).await?;
    let Path((env, service)) = path.map_err(path_error)?;
    let Query(q) = q.map_err(bad_query)?;
    let today = today(q.today.as_deref())?;
    let head = state.head().await?;
    let config = &head.project.config;
    if !config.services.contains_key(&service) {
        return Err(ApiError::not_found(format!("no service `{service}`"))
            .with("service", service)
            .with("known", config.services.keys().cloned().collect::<Vec<_>>()));
    }
    let target =
        crate::routes::choose_target(config, &env, q.provider.as_deref(), q.region.as_deref())?;
    let judge = Judge::new(state, caller, head.clone())?;
    let (e, s) = (env.clone(), service.clone());
    let verdict = judge
        .run(move |j| j.decide(Action::Read, &e, &s, &[]))
        .await?;
    if !verdict.allowed {
        let param = format!("{service}:");
        return Err(judge.deny(state, "read", &env, &param, &verdict).await);
    }
    Ok(ActualAccess {
        principal: judge.caller.principal.clone(),
        head,
        target,
        service,
        today,
    })
}

/// The name reported configurations are located by in findings (`at`): their lines are
/// those of the configuration as kept (pretty-printed JSON, shown in `actual`).
fn report_name(target: &str, service: &str) -> String {
    format!("actual/{target}/{service}.json")
}

/// Compares a kept report with the head's desired configuration and renders the answer
/// (blocking: reads the store).
fn render_actual(
    head: &Snapshot,
    report: &ActualReport,
    today: PolicyDate,
) -> Result<Bytes, ApiError> {
    let project = &head.project;
    let err = |e| drift_error(e, &project.config);
    let name: Arc<str> = Arc::from(report_name(&report.target, &report.service));
    let id = project.files().intern(&name);
    let node = parse_document(
        &name,
        id,
        report.config.as_bytes(),
        Format::Json,
        ParseOptions { templates: false },
    )
    .map_err(|e| {
        ApiError::internal(format!(
            "the kept report of {} on {} does not parse ({e}): the service should report again",
            report.service, report.target
        ))
    })?;
    let target = project
        .config
        .target(&report.target)
        .cloned()
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "target `{}` is no longer declared at the head",
                report.target
            ))
            .with("target", report.target.clone())
        })?;
    let mut policy = drift_collect::load_policy(project).map_err(err)?;
    let services = [report.service.clone()];
    let secrets = drift_collect::read_schemas(project, &services, &mut policy).map_err(err)?;
    let opts = ActualOptions {
        detail: Detail::Full,
        today,
        secrets: SecretHandling {
            reveal: None,
            is_ciphertext: strata_store::crypto::is_ciphertext,
            how_to_compare: HOW_TO_COMPARE_ACTUAL,
        },
        placeholder: Some(REDACTED),
    };
    let configuration: Value = serde_json::from_str(&report.config).map_err(|e| {
        ApiError::internal(format!(
            "the kept report of {} on {} is not JSON ({e}): the service should report again",
            report.service, report.target
        ))
    })?;
    let mut collected = compare(
        project,
        &target,
        policy,
        &secrets,
        vec![(report.service.clone(), node)],
        &opts,
    )
    .map_err(err)?;
    redact_ciphertexts(&mut collected);
    serialize(&Served {
        report: json_report(&collected),
        revision: revision_json(&head.rev),
        hidden: None,
        actual: Some(json!({
            "target": report.target,
            "service": report.service,
            "principal": report.principal,
            "time_ms": report.time_ms,
            "revision": report.revision,
            "digest": report.digest,
            "configuration": configuration,
        })),
    })
}

fn json_answer(bytes: Bytes, head: &Snapshot) -> Response {
    let rendered = Rendered {
        bytes,
        content_type: "application/json",
    };
    answer(&rendered, head, None)
}

/// The methods of `/v1/actual/{env}/{service}`.
pub(crate) fn actual() -> axum::routing::MethodRouter<AppState> {
    axum::routing::get(actual_get).post(actual_post)
}

/// `POST /v1/actual/{env}/{service}`: a running service reports the configuration it runs
/// with (a JSON object). Its secret values are replaced before anything else happens; the
/// report is kept as the latest of its (target, service) and answered compared with the
/// head's desired configuration.
pub(crate) async fn actual_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
    q: Result<Query<ActualQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let access = actual_access(&state, &headers, path, q).await?;
    let body = body.map_err(|e| {
        let status = e.status();
        let code = crate::error::code_of(status);
        ApiError::new(
            status,
            code,
            format!("cannot read the body: {}", e.body_text()),
        )
    })?;
    let ActualAccess {
        principal,
        head,
        target,
        service,
        today,
    } = access;
    let name: Arc<str> = Arc::from("request body");
    let mut reported = parse_document(
        &name,
        strata_core::value::FileId::default(),
        &body,
        Format::Json,
        ParseOptions { templates: false },
    )
    .map_err(|e| {
        // The reader quotes an oversized integer; the body may be a secret's, so say where
        // only.
        let what = if e.message.starts_with("integer ") {
            "an integer does not fit in 64 bits".to_string()
        } else {
            e.message
        };
        ApiError::bad_request(format!(
            "the body is not JSON (line {}, column {}: {what}): send the service's configuration as a JSON object",
            e.line, e.col
        ))
        .with("line", e.line)
        .with("col", e.col)
    })?;
    if !matches!(reported.value, CoreValue::Map(_)) {
        return Err(ApiError::bad_request(format!(
            "the body must be a JSON object (the configuration of {service}), found {}",
            reported.value.a_type_name()
        )));
    }
    drop(body);
    let report = {
        let (head, target, service) = (head.clone(), target.clone(), service.clone());
        blocking(move || {
            let project = &head.project;
            let err = |e| drift_error(e, &project.config);
            let desired = project
                .resolve(&service, &target, ResolveOptions::default())
                .map_err(|e| err(DriftError::Resolve(e)))?;
            // Only the secret patterns are wanted here, not the variation rules.
            let mut rules = strata_core::drift::policy::VariationPolicy::default();
            let services = [service.clone()];
            let secrets =
                drift_collect::read_schemas(project, &services, &mut rules).map_err(err)?;
            redact_secrets(
                Some(&desired.root),
                &mut reported,
                secrets.get(&service).map(Vec::as_slice),
            );
            let kept = to_pretty_json(&reported)?;
            Ok(ActualReport::new(
                target,
                service,
                principal,
                crate::now_ms(),
                head.rev.id.0.to_hex(),
                kept,
            ))
        })
        .await?
    };
    let stored = report.clone();
    state
        .with_repo("actual_put", move |repo| {
            repo.store()
                .actual_put(&stored)
                .map_err(|e| ApiError::store(&e))
        })
        .await?;
    let bytes = {
        let head = head.clone();
        blocking(move || render_actual(&head, &report, today)).await?
    };
    Ok(json_answer(bytes, &head))
}

/// A reported configuration (secrets already replaced) as the JSON text kept.
fn to_pretty_json(node: &Node) -> Result<String, ApiError> {
    serde_json::to_string_pretty(&node.value.to_json())
        .map_err(|e| ApiError::internal(format!("cannot serialize the report: {e}")))
}

/// `GET /v1/actual/{env}/{service}`: the last report of the service on the target,
/// compared again with the head's desired configuration.
pub(crate) async fn actual_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
    q: Result<Query<ActualQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let access = actual_access(&state, &headers, path, q).await?;
    let (target, service) = (access.target.clone(), access.service.clone());
    let found = state
        .with_repo("actual_get", move |repo| {
            repo.store()
                .actual_get(&target, &service)
                .map_err(|e| ApiError::store(&e))
        })
        .await?;
    let Some(report) = found else {
        return Err(ApiError::not_found(format!(
            "{} has not reported its configuration on {} yet: a running service POSTs it to /v1/actual/{}/{}",
            access.service,
            access.target,
            access.target.split('/').next().unwrap_or_default(),
            access.service
        ))
        .with("service", access.service)
        .with("target", access.target));
    };
    let bytes = {
        let (head, today) = (access.head.clone(), access.today);
        blocking(move || render_actual(&head, &report, today)).await?
    };
    Ok(json_answer(bytes, &access.head))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_comma_separated() {
        assert_eq!(list(Some(" a, b,,c ")), vec!["a", "b", "c"]);
        assert!(list(None).is_empty());
        assert!(list(Some("")).is_empty());
    }

    fn key(n: u8) -> Key {
        Key {
            rev: strata_store::model::RevisionId(strata_store::model::Hash([n; 32])),
            today: PolicyDate::from_unix_days(0),
            targets: Vec::new(),
            envs: Vec::new(),
            reference: None,
            services: Vec::new(),
            hidden: 0,
            dead_rules: true,
            format: ReportFormat::Json,
            all: false,
        }
    }

    fn rendered(n: usize) -> Arc<Rendered> {
        Arc::new(Rendered {
            bytes: Bytes::from(vec![b'x'; n]),
            content_type: "application/json",
        })
    }

    #[tokio::test]
    async fn the_cache_computes_a_report_once_and_stays_bounded() {
        let cache = DriftCache::default();
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let make = || async {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(rendered(10))
        };
        let (a, b) = tokio::join!(
            cache.get_or_make(key(0), make()),
            cache.get_or_make(key(0), make())
        );
        assert!(a.is_ok() && b.is_ok());
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
        // A failure is not kept: the next request computes again.
        let failed = cache
            .get_or_make(key(1), async { Err(ApiError::internal("no")) })
            .await;
        assert!(failed.is_err());
        assert!(!cache.lock().slots.contains_key(&key(1)));
        for n in 1..=(MAX_CACHED as u8 + 5) {
            let _ = cache.get_or_make(key(n), async { Ok(rendered(10)) }).await;
        }
        let slots = cache.lock().slots.keys().cloned().collect::<Vec<_>>();
        assert_eq!(slots.len(), MAX_CACHED);
        assert!(!slots.contains(&key(0)), "the oldest is dropped first");
        // One report over the byte bound is kept alone.
        let _ = cache
            .get_or_make(key(200), async { Ok(rendered(MAX_CACHED_BYTES + 1)) })
            .await;
        let slots = cache.lock().slots.keys().cloned().collect::<Vec<_>>();
        assert_eq!(slots, vec![key(200)]);
    }

    #[test]
    fn formats_are_those_of_the_cli() {
        for f in ["json", "text", "markdown", "md", "summary"] {
            assert!(ReportFormat::parse(f).is_some(), "{f}");
        }
        assert_eq!(ReportFormat::parse("xml"), None);
    }
}
