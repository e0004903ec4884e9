//! Route files: which requests are sends, where their destinations live, and
//! which upstream serves them.
//!
//! [`config`] is the file format; [`RouteTable::build`] validates a set of
//! files (with the start-up upstream overrides) and compiles them into the
//! table the pipeline matches every request against.

mod canonical;
pub mod config;
mod index;
mod template;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::{Method, Uri};

pub use config::{
    BodyEncoding, FeedbackEndpoint, PartialPolicy, RouteFile, SendEndpoint, StatusEndpoint,
};
// The answers' values are part of the route file format but belong to the
// dialect that shapes them.
pub use crate::dialect::{Answer, Answers};
pub use template::PathTemplate;

use index::HeadIndex;

use crate::source::SourceError;

/// The route files compiled into the binary: `tollgate serve` with no
/// `--routes` uses these.
pub const EMBEDDED: &[(&str, &str)] = &[
    (
        "routes/twilio.toml",
        include_str!("../../routes/twilio.toml"),
    ),
    (
        "routes/vonage.toml",
        include_str!("../../routes/vonage.toml"),
    ),
    ("routes/plivo.toml", include_str!("../../routes/plivo.toml")),
    ("routes/bird.toml", include_str!("../../routes/bird.toml")),
    ("routes/sinch.toml", include_str!("../../routes/sinch.toml")),
    (
        "routes/telnyx.toml",
        include_str!("../../routes/telnyx.toml"),
    ),
    (
        "routes/infobip.toml",
        include_str!("../../routes/infobip.toml"),
    ),
];

/// An upstream base URL, resolved once at start-up.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub name: String,
    /// `https://api.twilio.com` (scheme and authority; a path prefix is kept).
    pub base: Uri,
}

impl Upstream {
    /// The full upstream URI for a request's path and query. The client's
    /// `Host` never takes part: tollgate is not an open proxy.
    pub fn uri_for(&self, path_and_query: &str) -> Result<Uri, http::Error> {
        let prefix = self.base.path().trim_end_matches('/');
        let mut parts = http::uri::Parts::default();
        parts.scheme = self.base.scheme().cloned();
        parts.authority = self.base.authority().cloned();
        parts.path_and_query = Some(format!("{prefix}{path_and_query}").parse()?);
        Ok(Uri::from_parts(parts)?)
    }
}

/// An endpoint of a route file, compiled for matching.
#[derive(Debug)]
pub struct Endpoint<S> {
    /// `provider.name`, e.g. `twilio.messages`.
    pub id: String,
    pub provider: String,
    pub method: Method,
    pub template: PathTemplate,
    pub upstream: Arc<Upstream>,
    pub spec: S,
}

/// What every endpoint kind compiles the same way from its route file entry.
struct Head {
    id: String,
    method: Method,
    template: PathTemplate,
    upstream: Arc<Upstream>,
}

impl Head {
    fn with<S>(self, provider: &str, spec: S) -> Endpoint<S> {
        Endpoint {
            id: self.id,
            provider: provider.to_owned(),
            method: self.method,
            template: self.template,
            upstream: self.upstream,
            spec,
        }
    }
}

/// A send endpoint ready for matching.
pub type SendRoute = Endpoint<SendEndpoint>;
/// A feedback endpoint ready for matching.
pub type FeedbackRoute = Endpoint<FeedbackEndpoint>;
/// A status look-up endpoint ready for matching.
pub type StatusRoute = Endpoint<StatusEndpoint>;

#[derive(Debug)]
struct PassthroughRoute {
    provider: String,
    prefix: String,
    upstream: Arc<Upstream>,
}

/// What a request is, as far as routing goes.
pub enum Matched<'t, 'p> {
    Send {
        route: &'t SendRoute,
        vars: Vec<(&'t str, &'p str)>,
    },
    Feedback {
        route: &'t FeedbackRoute,
    },
    Status {
        route: &'t StatusRoute,
        id: &'p str,
    },
    Passthrough {
        provider: &'t str,
        upstream: &'t Arc<Upstream>,
    },
    /// No route file claims the path.
    Unknown,
    /// The path is spelled in a way upstreams normalise (`%2E`, `/./`,
    /// `//`, …): refused, so that no send can slip past its template.
    NotCanonical(&'static str),
}

/// All routes of all providers, matched in this order: sends, feedback,
/// then the longest passthrough prefix.
#[derive(Debug, Default)]
pub struct RouteTable {
    sends: Vec<SendRoute>,
    feedback: Vec<FeedbackRoute>,
    status: Vec<StatusRoute>,
    passthrough: Vec<PassthroughRoute>,
    upstreams: BTreeMap<String, Arc<Upstream>>,
    send_index: HeadIndex,
    feedback_index: HeadIndex,
    status_index: HeadIndex,
}

/// A route file's text and where it came from (for error messages).
pub struct Source {
    pub origin: PathBuf,
    pub text: String,
}

impl Source {
    pub fn embedded() -> Vec<Source> {
        EMBEDDED
            .iter()
            .map(|(name, text)| Source {
                origin: PathBuf::from(name),
                text: (*text).to_owned(),
            })
            .collect()
    }

    /// Every `*.toml` in a directory, sorted by name.
    pub fn from_dir(dir: &Path) -> Result<Vec<Source>, SourceError> {
        let entries = std::fs::read_dir(dir).map_err(|e| SourceError::io(dir, e))?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        paths
            .into_iter()
            .map(|p| {
                let text = std::fs::read_to_string(&p).map_err(|e| SourceError::io(&p, e))?;
                Ok(Source { origin: p, text })
            })
            .collect()
    }
}

impl RouteTable {
    /// Parses and validates route files, applies `--upstream NAME=URL`
    /// overrides, and compiles the table. Every problem is reported with its
    /// file and line.
    pub fn build(
        sources: &[Source],
        overrides: &BTreeMap<String, String>,
    ) -> Result<RouteTable, SourceError> {
        let mut table = RouteTable::default();
        let mut providers = BTreeMap::new();
        for src in sources {
            let file: RouteFile = toml::from_str(&src.text)
                .map_err(|e| SourceError::toml(&src.origin, &src.text, &e))?;
            let err = |msg: String| SourceError::semantic(&src.origin, msg);
            if let Some(prev) = providers.insert(file.provider.clone(), src.origin.clone()) {
                return Err(err(format!(
                    "provider `{}` is also defined in {}",
                    file.provider,
                    prev.display()
                )));
            }
            let mut local = BTreeMap::new();
            for (name, url) in &file.upstreams {
                let url = overrides.get(name).unwrap_or(url);
                let base: Uri = url
                    .parse()
                    .map_err(|e| err(format!("upstream `{name}`: bad URL `{url}`: {e}")))?;
                if !matches!(base.scheme_str(), Some("http" | "https"))
                    || base.authority().is_none()
                {
                    return Err(err(format!(
                        "upstream `{name}`: `{url}` must be an absolute http(s) URL"
                    )));
                }
                if table.upstreams.contains_key(name) {
                    return Err(err(format!(
                        "upstream name `{name}` is already used by another route file"
                    )));
                }
                let up = Arc::new(Upstream {
                    name: name.clone(),
                    base,
                });
                table.upstreams.insert(name.clone(), up.clone());
                local.insert(name.clone(), up);
            }
            let upstream = |name: &str| {
                local.get(name).cloned().ok_or_else(|| {
                    err(format!(
                        "unknown upstream `{name}` (declare it under [upstreams])"
                    ))
                    .near(&src.text, &format!("\"{name}\""))
                })
            };
            let method = |m: &str| {
                m.parse::<Method>().map_err(|_| {
                    err(format!("bad HTTP method `{m}`")).near(&src.text, &format!("\"{m}\""))
                })
            };
            let template = |t: &str| {
                PathTemplate::parse(t).map_err(|m| err(m).near(&src.text, &format!("\"{t}\"")))
            };
            let mut names = std::collections::BTreeSet::new();
            // What every endpoint kind compiles the same way; names are
            // unique within a file.
            let mut endpoint =
                |name: &str, m: &str, path: &str, up: &str| -> Result<_, SourceError> {
                    if !names.insert(name.to_owned()) {
                        return Err(err(format!("endpoint name `{name}` is used twice"))
                            .near(&src.text, &format!("\"{name}\"")));
                    }
                    Ok(Head {
                        id: format!("{}.{name}", file.provider),
                        method: method(m)?,
                        template: template(path)?,
                        upstream: upstream(up)?,
                    })
                };
            for spec in &file.send {
                let head = endpoint(&spec.name, &spec.method, &spec.path, &spec.upstream)?;
                spec.dialect
                    .check_answers(&spec.answers)
                    .map_err(|m| err(format!("send `{}`: {m}", spec.name)))?;
                if spec.partial == PartialPolicy::Drop && !spec.dialect.reports_dropped() {
                    return Err(err(format!(
                        "send `{}`: partial = \"drop\" needs a dialect that reports dropped destinations (plivo-message)",
                        spec.name
                    )));
                }
                for alias in &spec.also {
                    let head = Head {
                        id: head.id.clone(),
                        method: head.method.clone(),
                        template: template(alias)?,
                        upstream: head.upstream.clone(),
                    };
                    table.sends.push(head.with(&file.provider, spec.clone()));
                }
                table.sends.push(head.with(&file.provider, spec.clone()));
            }
            for spec in &file.feedback {
                let head = endpoint(&spec.name, &spec.method, &spec.path, &spec.upstream)?;
                table.feedback.push(head.with(&file.provider, spec.clone()));
            }
            for spec in &file.status {
                let head = endpoint(&spec.name, &spec.method, &spec.path, &spec.upstream)?;
                if !spec.path.contains(&format!("{{{}}}", spec.id)) {
                    return Err(err(format!(
                        "status `{}`: the path has no `{{{}}}` variable",
                        spec.name, spec.id
                    ))
                    .near(&src.text, &format!("\"{}\"", spec.path)));
                }
                table.status.push(head.with(&file.provider, spec.clone()));
            }
            for p in &file.passthrough {
                if !p.prefix.starts_with('/') {
                    return Err(err(format!(
                        "passthrough prefix `{}` must start with `/`",
                        p.prefix
                    )));
                }
                if let Some(other) = table.passthrough.iter().find(|o| o.prefix == p.prefix) {
                    return Err(err(format!(
                        "passthrough prefix `{}` is already claimed by `{}`",
                        p.prefix, other.provider
                    )));
                }
                table.passthrough.push(PassthroughRoute {
                    provider: file.provider.clone(),
                    prefix: p.prefix.clone(),
                    upstream: upstream(&p.upstream)?,
                });
            }
        }
        if let Some(unused) = overrides.keys().find(|k| !table.upstreams.contains_key(*k)) {
            return Err(SourceError::semantic(
                Path::new("--upstream"),
                format!("no route file declares an upstream named `{unused}`"),
            ));
        }
        // Longest prefix first, so the most specific passthrough wins.
        table
            .passthrough
            .sort_by(|a, b| b.prefix.len().cmp(&a.prefix.len()));
        table.send_index = HeadIndex::build(table.sends.iter().map(|r| &r.template));
        table.feedback_index = HeadIndex::build(table.feedback.iter().map(|r| &r.template));
        table.status_index = HeadIndex::build(table.status.iter().map(|r| &r.template));
        Ok(table)
    }

    pub fn resolve<'t, 'p>(&'t self, method: &Method, path: &'p str) -> Matched<'t, 'p> {
        if let Some(problem) = canonical::problem(path) {
            return Matched::NotCanonical(problem);
        }
        for &i in self.send_index.candidates(path) {
            let route = &self.sends[i];
            if route.method == *method {
                if let Some(vars) = route.template.matches(path) {
                    return Matched::Send { route, vars };
                }
            }
        }
        for &i in self.feedback_index.candidates(path) {
            let route = &self.feedback[i];
            if route.method == *method && route.template.matches(path).is_some() {
                return Matched::Feedback { route };
            }
        }
        for &i in self.status_index.candidates(path) {
            let route = &self.status[i];
            if route.method == *method {
                if let Some(vars) = route.template.matches(path) {
                    if let Some((_, id)) = vars.into_iter().find(|(k, _)| *k == route.spec.id) {
                        return Matched::Status { route, id };
                    }
                }
            }
        }
        for p in &self.passthrough {
            if path.starts_with(&p.prefix) {
                return Matched::Passthrough {
                    provider: &p.provider,
                    upstream: &p.upstream,
                };
            }
        }
        Matched::Unknown
    }

    pub fn sends(&self) -> &[SendRoute] {
        &self.sends
    }

    pub fn upstreams(&self) -> impl Iterator<Item = &Arc<Upstream>> {
        self.upstreams.values()
    }
}
