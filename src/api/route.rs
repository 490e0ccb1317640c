//! The route table: every operation of the API is declared once.
//!
//! A handler's `#[utoipa::path]` attribute already says its method and path template. [`routes!`] turns a list
//! of handlers into a [`RouteTable`], and from that one declaration come:
//!
//! - the warp filter: the template matched segment by segment, the method checked, path parameters parsed into
//!   the handler's first arguments, then the handler's other extractors;
//! - the metric label: the template itself (bounded, never the raw path), attached to the response;
//! - the OpenAPI operation and the schemas it names (see `openapi.rs`).
//!
//! Before this table a path was written four times (filter, annotation, document list, metric label) and the
//! four drifted. Now the router, the metrics and the document cannot disagree.
//!
//! Each operation's filter is boxed: chained unboxed, a table's type grows with every operation and the
//! compiler's work with it (a 20-operation table took minutes to type-check). A boxed filter costs a heap
//! allocation each time it is tried, so the literal path is checked against the templates first, without one
//! ([`fits_one_of`]): a table's, so a request skips the tables that cannot serve it at once, and each
//! operation's, so within a table only the operations whose path fits are tried. (Before the second check a boot
//! download, the ninth operation of its table, spent about a tenth of its CPU on the eight it did not fit.)

use std::str::FromStr;

use utoipa::openapi::OpenApi;
use utoipa::openapi::path::HttpMethod;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::{Filter, Rejection};

use super::{ApiError, Ctx};

/// What the document needs of one operation: its handler's path struct, as a function.
pub struct Operation {
    pub document: fn(&mut OpenApi),
}

impl Operation {
    pub const fn of<P: utoipa::Path + utoipa::__dev::SchemaReferences>() -> Operation {
        Operation {
            document: document::<P>,
        }
    }
}

/// The operations of one group of handlers and the filter that serves them.
pub struct RouteTable {
    pub operations: &'static [Operation],
    pub filter: fn(&Ctx) -> BoxedFilter<(Response,)>,
}

/// Adds `P`'s operation, and every schema it names, to `doc`. `SchemaReferences` is utoipa's (hidden) trait
/// for that; utoipa's own `#[openapi(paths(…))]` and utoipa-axum's router use it the same way.
fn document<P: utoipa::Path + utoipa::__dev::SchemaReferences>(doc: &mut OpenApi) {
    doc.paths.add_path_operation(P::path(), P::methods(), P::operation());
    let mut schemas = Vec::new();
    P::schemas(&mut schemas);
    let components = doc.components.get_or_insert_with(Default::default);
    for (name, schema) in schemas {
        components.schemas.entry(name).or_insert(schema);
    }
}

/// The route label a response carries, for the request metrics.
#[derive(Clone, Copy)]
pub struct RouteLabel(pub &'static str);

/// A path template split once: literal segments and `{param}` holes.
#[derive(Clone)]
struct Template(std::sync::Arc<[Option<String>]>);

impl Template {
    fn parse(template: &str) -> Template {
        let segments = template
            .trim_start_matches('/')
            .split('/')
            .map(|segment| (!segment.starts_with('{')).then(|| segment.to_owned()))
            .collect();
        Template(segments)
    }

    /// The raw path parameters when `path` fits the template (as warp's `path!` does: no percent-decoding, no
    /// empty parameter, no trailing segments, one trailing slash allowed).
    fn matches(&self, path: &str) -> Option<Vec<String>> {
        let mut params = Vec::new();
        self.walk(path, |param| params.push(param.to_owned())).then_some(params)
    }

    /// Whether `path` fits, without collecting anything (the table guard's check, run on every request).
    fn fits(&self, path: &str) -> bool {
        self.walk(path, |_| {})
    }

    fn walk<'p>(&self, path: &'p str, mut param: impl FnMut(&'p str)) -> bool {
        let path = path.strip_suffix('/').filter(|rest| !rest.is_empty()).unwrap_or(path);
        let mut segments = path.trim_start_matches('/').split('/');
        for expected in self.0.iter() {
            let Some(segment) = segments.next() else { return false };
            match expected {
                Some(literal) if literal != segment => return false,
                Some(_) => {}
                None if segment.is_empty() => return false,
                None => param(segment),
            }
        }
        segments.next().is_none()
    }
}

/// Matches `P`'s path and method; extracts the raw path parameters. A path that fits with another method is a
/// 405: the method is checked with warp's own method filters, so their rejection is ranked as every other.
pub fn endpoint<P: utoipa::Path>() -> impl Filter<Extract = (Vec<String>,), Error = Rejection> + Clone {
    let template = Template::parse(&P::path());
    let path = warp::path::full().and_then(move |full: warp::path::FullPath| {
        let params = template.matches(full.as_str());
        std::future::ready(params.ok_or_else(warp::reject::not_found))
    });
    let allowed = P::methods()
        .into_iter()
        .fold(0u8, |mask, method| mask | method_bit(method));
    path.and(methods(allowed))
}

fn method_bit(method: HttpMethod) -> u8 {
    match method {
        HttpMethod::Get => 1,
        HttpMethod::Post => 2,
        HttpMethod::Put => 4,
        HttpMethod::Delete => 8,
        HttpMethod::Patch => 16,
        HttpMethod::Head => 32,
        HttpMethod::Options | HttpMethod::Trace => 64,
    }
}

/// Passes the methods in `allowed` (a mask of [`method_bit`]s). Each method filter is tried in turn and
/// followed by a check that it is allowed, so a request whose method fits none is rejected as 405 by warp itself.
fn methods(allowed: u8) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    let only = move |bit: u8| {
        warp::any()
            .and_then(move || {
                std::future::ready(if allowed & bit != 0 {
                    Ok(())
                } else {
                    Err(warp::reject::not_found())
                })
            })
            .untuple_one()
    };
    warp::get()
        .and(only(1))
        .or(warp::post().and(only(2)))
        .unify()
        .or(warp::put().and(only(4)))
        .unify()
        .or(warp::delete().and(only(8)))
        .unify()
        .or(warp::patch().and(only(16)))
        .unify()
        .or(warp::head().and(only(32)))
        .unify()
}

/// Passes only paths that fit one of `templates`, so a request skips a whole table, or one operation, with one
/// cheap check instead of trying it (each operation is boxed: a heap allocation per try). The method is not
/// checked here: a method that fits no operation still enters them, so that their method filters rank the 405.
pub fn fits_one_of(templates: &[String]) -> impl Filter<Extract = (), Error = Rejection> + Clone + use<> {
    let templates: std::sync::Arc<[Template]> = templates.iter().map(|t| Template::parse(t)).collect();
    warp::path::full()
        .and_then(move |full: warp::path::FullPath| {
            let fits = templates.iter().any(|template| template.fits(full.as_str()));
            std::future::ready(if fits { Ok(()) } else { Err(warp::reject::not_found()) })
        })
        .untuple_one()
}

/// Path parameters parsed into the types a handler takes; one that does not parse is a 404, as with `path!`.
pub trait FromParams: Sized {
    fn from_params(params: Vec<String>) -> Result<Self, Rejection>;
}

fn parse<T: FromStr>(value: Option<String>) -> Result<T, Rejection> {
    value
        .and_then(|value| value.parse().ok())
        .ok_or_else(warp::reject::not_found)
}

macro_rules! from_params {
    ($($t:ident),*) => {
        impl<$($t: FromStr),*> FromParams for ($($t,)*) {
            #[allow(unused_variables, unused_mut)]
            fn from_params(params: Vec<String>) -> Result<Self, Rejection> {
                let mut params = params.into_iter();
                Ok(($(parse::<$t>(params.next())?,)*))
            }
        }
    };
}

from_params!();
from_params!(A);
from_params!(A, B);
from_params!(A, B, C);
from_params!(A, B, C, D);
from_params!(A, B, C, D, E);

/// What a handler returns: a response, or an error that becomes one.
pub trait Answer {
    fn answer(self) -> Response;
}

impl Answer for Response {
    fn answer(self) -> Response {
        self
    }
}

impl Answer for Result<Response, ApiError> {
    fn answer(self) -> Response {
        self.unwrap_or_else(ApiError::into_response)
    }
}

/// The template of `P`, kept for the life of the process as the metric label (one small string per operation).
pub fn label<P: utoipa::Path>() -> RouteLabel {
    RouteLabel(Box::leak(P::path().into_boxed_str()))
}

/// Sets the response's route label.
pub fn labelled(label: RouteLabel, answer: impl Answer) -> Response {
    let mut response = answer.answer();
    response.extensions_mut().insert(label);
    response
}

/// Declares a [`RouteTable`]:
///
/// ```ignore
/// pub(super) const ROUTES: RouteTable = routes![ctx =>
///     list() [with_ctx(ctx), caller(), raw_query()],
///     get(id: String) [with_ctx(ctx), caller()],
/// ];
/// ```
///
/// Each line names a handler (its `#[utoipa::path]` gives method and path), the types of its path parameters in
/// template order (its first arguments), and the filters that extract its other arguments. `ctx` names the
/// `&Ctx` the extractors may use.
macro_rules! routes {
    ($ctx:ident => $(
        $handler:ident ( $($param:ident : $ty:ty),* $(,)? ) [ $($extract:expr),* $(,)? ]
    ),+ $(,)?) => {
        $crate::api::route::RouteTable {
            operations: &[$(
                $crate::api::route::Operation::of::<pastey::paste!([<__path_ $handler>])>(),
            )+],
            filter: |$ctx: &$crate::api::Ctx| {
                #[allow(unused_imports)]
                use warp::Filter as _;
                let templates = [$(<pastey::paste!([<__path_ $handler>]) as utoipa::Path>::path()),+];
                $crate::api::route::fits_one_of(&templates)
                    .and($crate::api::route::routes!(@chain $ctx; $(
                        $handler ( $($ty),* ) [ $($extract),* ]
                    ),+))
                    .boxed()
            },
        }
    };
    (@chain $ctx:ident; $first:ident ( $($fty:ty),* ) [ $($fextract:expr),* ]
        $(, $handler:ident ( $($ty:ty),* ) [ $($extract:expr),* ])*) => {
        $crate::api::route::routes!(@one $first ( $($fty),* ) [ $($fextract),* ])
        $(.or($crate::api::route::routes!(@one $handler ( $($ty),* ) [ $($extract),* ])).unify())*
    };
    (@one $handler:ident ( $($ty:ty),* ) [ $($extract:expr),* ]) => {{
        type Op = pastey::paste!([<__path_ $handler>]);
        let label = $crate::api::route::label::<Op>();
        // Unboxed in front of the boxed operation: a path that does not fit is turned away without allocating.
        $crate::api::route::fits_one_of(&[<Op as utoipa::Path>::path()]).and($crate::api::route::endpoint::<Op>()
            .and_then(|params: Vec<String>| std::future::ready(
                <($($ty,)*) as $crate::api::route::FromParams>::from_params(params),
            ))
            .untuple_one()
            $(.and($extract))*
            .then($handler)
            .map(move |answer| $crate::api::route::labelled(label, answer))
            .boxed())
    }};
}

pub(crate) use routes;

#[cfg(test)]
mod tests {
    use super::Template;

    #[test]
    fn a_table_is_skipped_unless_the_path_fits_one_of_its_templates() {
        let templates = [
            "/nodes/{id}/vms".to_owned(),
            "/boot.ipxe".to_owned(),
            "/kernel/{file}".to_owned(),
        ];
        let templates: Vec<Template> = templates.iter().map(|t| Template::parse(t)).collect();
        for (path, fits) in [
            ("/nodes/n1/vms", true),
            ("/nodes/n1/vms/", true),
            ("/boot.ipxe", true),
            ("/kernel/zero-os.efi", true),
            ("/nodes/n1/vms/v", false),
            ("/nodes/n1/containers", false),
            ("/kernel", false),
            ("/health", false),
        ] {
            assert_eq!(templates.iter().any(|t| t.fits(path)), fits, "{path}");
        }
    }

    #[test]
    fn a_template_matches_its_paths_and_extracts_raw_parameters() {
        let template = Template::parse("/nodes/{id}/jobs/{jobid}");
        assert_eq!(
            template.matches("/nodes/n1/jobs/j%201"),
            Some(vec!["n1".to_owned(), "j%201".to_owned()])
        );
        for miss in [
            "/nodes/n1/jobs",
            "/nodes/n1/jobs/j1/x",
            "/nodes//jobs/j1",
            "/nodes/n1/job/j1",
            "/",
        ] {
            assert_eq!(template.matches(miss), None, "{miss}");
        }
        assert_eq!(Template::parse("/health").matches("/health"), Some(vec![]));
        assert_eq!(Template::parse("/health").matches("/health/"), Some(vec![]));
        assert_eq!(Template::parse("/health").matches("/health//"), None);
    }
}
