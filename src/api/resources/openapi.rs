//! The OpenAPI 3.1 document, generated from the handlers' and types' annotations (never written by hand, so it
//! cannot drift from the code).

use std::sync::LazyLock;

use utoipa::openapi::Ref;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
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

/// Built once, on first request: the description above, every operation of the route table, and the errors
/// that every operation of a kind shares (so no annotation repeats them): 401 for every operation that needs a
/// token, 403 for every one that changes something (a read that needs more than the viewer role says so
/// itself), and 502 and 504 for every one that may hand back a job (202): it waits for the node, which may fail
/// or not answer.
pub static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(|| {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    for operation in TABLES.iter().flat_map(|table| table.operations) {
        (operation.document)(&mut doc);
    }
    for item in doc.paths.paths.values_mut() {
        // A download answers GET and HEAD with one handler; the document wants an id per operation.
        if let Some(head) = &mut item.head {
            head.operation_id = head.operation_id.take().map(|id| format!("{id}Head"));
        }
        let operations = [
            (&mut item.get, false),
            (&mut item.post, true),
            (&mut item.put, true),
            (&mut item.patch, true),
            (&mut item.delete, true),
        ];
        for (operation, changes) in operations {
            let Some(operation) = operation.as_mut().filter(|op| op.security.is_some()) else {
                continue;
            };
            add_error(
                operation,
                "401",
                "No valid token (missing, malformed, unknown or revoked)",
            );
            if changes {
                add_error(operation, "403", "The token's role may not do this");
            }
            if operation.responses.responses.contains_key("202") {
                add_error(operation, "502", "The node refused or failed the change");
                add_error(operation, "504", "The node did not answer in time");
            }
        }
    }
    doc
});

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
