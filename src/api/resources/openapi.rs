//! The OpenAPI 3.1 document, generated from the handlers' and types' annotations (never written by hand, so it
//! cannot drift from the code).

use std::sync::LazyLock;

use utoipa::openapi::Ref;
use utoipa::openapi::RefOr;
use utoipa::openapi::Required;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{Object, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api::TABLES;

/// What the route table does not say: the API's description, tags and security scheme. The operations come from
/// the table (see [`document`]).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "zos-orchestrator",
        description = "Bootstraps and runs a Zero-OS cluster. Paths and node fields follow the 0-orchestrator \
            REST API. Send `Authorization: Bearer <token>`; errors are `{code, message, field?}`.",
    ),
    components(schemas(crate::store::ChangeKind)),
    modifiers(&BearerAuth),
    tags(
        (name = "nodes", description = "The node inventory"),
        (name = "containers", description = "Containers on a node (0-orchestrator parity), and direct access inside them"),
        (name = "storage", description = "Storage pools (btrfs) on a node's disks, their filesystems and snapshots; block storage clusters across nodes"),
        (name = "network", description = "A node's bridges and the ZeroTier networks it joins"),
        (name = "vms", description = "Virtual machines on a node"),
        (name = "jobs", description = "The orchestrator's jobs: progress and outcome of workload changes"),
        (name = "tokens", description = "API tokens (admin)"),
        (name = "audit", description = "The audit log: every change asked of the API, refused ones too (admin)"),
        (name = "events", description = "Live change feed"),
        (name = "zerotier", description = "Members of the cluster's ZeroTier network (discovery)"),
        (name = "boot", description = "Network boot: profiles, selectors, settings, assets, scripts, boot events"),
        (name = "system", description = "Health, metrics, this document"),
        (name = "admin", description = "Backups of the whole state (admin)"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// Built once, on first request: the description above and every operation of the route table, completed
/// with what every operation of a kind shares (see [`complete`]), so that no annotation repeats it.
pub static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(|| {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    for operation in TABLES.iter().flat_map(|table| table.operations) {
        (operation.document)(&mut doc);
    }
    for (template, item) in doc.paths.paths.iter_mut() {
        // A download answers GET and HEAD with one handler; the document wants an id per operation.
        if let Some(head) = &mut item.head {
            head.operation_id = head.operation_id.take().map(|id| format!("{id}Head"));
        }
        let operations = [
            (&mut item.get, Acts::Reads),
            (&mut item.head, Acts::Reads),
            (&mut item.post, Acts::Changes),
            (&mut item.patch, Acts::Changes),
            (&mut item.put, Acts::Sets),
            (&mut item.delete, Acts::Sets),
        ];
        for (operation, acts) in operations {
            if let Some(operation) = operation {
                complete(template, operation, acts);
            }
        }
    }
    doc
});

/// What an operation does to what its path names.
#[derive(Clone, Copy, PartialEq)]
enum Acts {
    Reads,
    Changes,
    /// PUT and DELETE: the thing the path ends with need not exist (it is made, or it is already gone), unless the
    /// annotation says 404.
    Sets,
}

/// Adds what an operation shares with every other of its kind, unless its annotation says otherwise:
///
/// - a parameter for each `{hole}` of its path (a string; a node's `id` described as such);
/// - 400 when it takes a body, 404 when its path names something that must exist;
/// - for a 202 that names no body, the job's (`jobs::submit`): its record, at its `Location`;
/// - the bearer token, unless the annotation says `security(())` (public: health, metrics, this document, the
///   machines' boot downloads), and then 401; 403 when it changes something (a read that needs more than the
///   viewer role says so itself); 502 and 504 when it may hand back a job (202): it waits for the node, which
///   may fail or not answer.
fn complete(template: &str, operation: &mut Operation, acts: Acts) {
    add_path_parameters(template, operation);
    complete_job_accepted(operation);
    if operation.request_body.is_some() {
        add_error(operation, "400", "Malformed or invalid; the error names the field");
    }
    let sets_last_hole = acts == Acts::Sets && template.ends_with('}');
    let must_exist = template.matches('{').count() - usize::from(sets_last_hole);
    if must_exist > 0 {
        add_error(operation, "404", "Not found; the error says what");
    }
    if !needs_token(operation) {
        return;
    }
    add_error(
        operation,
        "401",
        "No valid token (missing, malformed, unknown or revoked)",
    );
    if acts != Acts::Reads {
        add_error(operation, "403", "The token's role may not do this");
    }
    if operation.responses.responses.contains_key("202") {
        add_error(operation, "502", "The node refused or failed the change");
        add_error(operation, "504", "The node did not answer in time");
    }
}

/// A 202 without a body documented is a job handed back by `jobs::submit`: the job, at `/jobs/{id}`.
fn complete_job_accepted(operation: &mut Operation) {
    let Some(RefOr::T(accepted)) = operation.responses.responses.get_mut("202") else {
        return;
    };
    if !accepted.content.is_empty() {
        return;
    }
    if accepted.description.is_empty() {
        accepted.description = "Accepted; not finished yet: follow the job".into();
    }
    let job = ContentBuilder::new().schema(Some(Ref::from_schema_name("Job"))).build();
    accepted.content.insert("application/json".into(), job);
    accepted.headers.entry("Location".into()).or_insert_with(|| {
        HeaderBuilder::new()
            .schema(Object::with_type(Type::String))
            .description(Some("URL of the job"))
            .build()
    });
}

/// Whether the operation needs a token, with its security requirement made explicit: the bearer token when the
/// annotation says nothing (forgetting to say so documents a public operation as guarded, never the reverse),
/// none when it says `security(())`.
fn needs_token(operation: &mut Operation) -> bool {
    let public = match &operation.security {
        None => false,
        Some(requirements) => requirements.iter().all(|r| *r == SecurityRequirement::default()),
    };
    operation.security = (!public).then(|| vec![SecurityRequirement::new("bearer", Vec::<String>::new())]);
    !public
}

/// The path parameters in template order: those the annotation declares (with their own type or description)
/// and a string for each hole it leaves out; then the other parameters as declared.
fn add_path_parameters(template: &str, operation: &mut Operation) {
    let (mut declared, others): (Vec<Parameter>, Vec<Parameter>) = operation
        .parameters
        .take()
        .unwrap_or_default()
        .into_iter()
        .partition(|parameter| parameter.parameter_in == ParameterIn::Path);
    let holes = template
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'));
    let mut parameters: Vec<Parameter> = holes
        .map(
            |name| match declared.iter().position(|parameter| parameter.name == name) {
                Some(at) => declared.remove(at),
                None => path_parameter(template, name),
            },
        )
        .collect();
    parameters.extend(others);
    operation.parameters = (!parameters.is_empty()).then_some(parameters);
}

fn path_parameter(template: &str, name: &str) -> Parameter {
    let description = match name {
        "id" if template.starts_with("/nodes/") => Some("Node id"),
        "id" if template.starts_with("/vdiskstorage/") => Some("Vdisk storage id"),
        _ => None,
    };
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(description)
        .schema(Some(Object::with_type(Type::String)))
        .build()
}

fn add_error(operation: &mut Operation, status: &str, description: &str) {
    let response = ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build();
    operation
        .responses
        .responses
        .entry(status.to_owned())
        .or_insert(response.into());
}
