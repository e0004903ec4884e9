//! Path templates: `/2010-04-01/Accounts/{account}/Messages.json`.

/// A compiled path template. `{name}` matches exactly one non-empty segment;
/// `{name}.json` one that ends in `.json` (the variable is the rest).
#[derive(Debug, Clone)]
pub struct PathTemplate {
    segments: Vec<Segment>,
}

#[derive(Debug, Clone)]
enum Segment {
    Literal(String),
    Var { name: String, suffix: String },
}

impl PathTemplate {
    pub fn parse(template: &str) -> Result<PathTemplate, String> {
        if !template.starts_with('/') {
            return Err(format!("path template `{template}` must start with `/`"));
        }
        let mut segments = Vec::new();
        for seg in template[1..].split('/') {
            if let Some((name, suffix)) = seg.strip_prefix('{').and_then(|s| s.split_once('}')) {
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(format!(
                        "bad variable `{seg}` in path template `{template}`"
                    ));
                }
                if suffix.contains('{') || suffix.contains('}') {
                    return Err(format!("one variable per segment in `{template}`"));
                }
                segments.push(Segment::Var {
                    name: name.to_owned(),
                    suffix: suffix.to_owned(),
                });
            } else if seg.contains('{') || seg.contains('}') {
                return Err(format!("a variable must start its segment in `{template}`"));
            } else {
                segments.push(Segment::Literal(seg.to_owned()));
            }
        }
        // One trailing `/` is insignificant (see `matches`).
        if segments.len() > 1
            && matches!(segments.last(), Some(Segment::Literal(l)) if l.is_empty())
        {
            segments.pop();
        }
        Ok(PathTemplate { segments })
    }

    /// The first segment when it is a literal (`2010-04-01`), else `None`.
    pub fn first_literal(&self) -> Option<&str> {
        match self.segments.first() {
            Some(Segment::Literal(l)) => Some(l),
            _ => None,
        }
    }

    /// Matches a request path (no query); returns the variables' values.
    ///
    /// Walks the path once: a literal segment is compared in place (no
    /// search for its end), only a variable looks for the next `/`. Every
    /// request is tried against every send template, so this runs several
    /// times per request.
    /// One trailing `/` is insignificant on either side: most upstreams
    /// route `…/Messages.json/` to the same handler (and Plivo's
    /// `…/Message` to `…/Message/`), so both must be scored as the send.
    pub fn matches<'p>(&self, path: &'p str) -> Option<Vec<(&str, &'p str)>> {
        let path = match path.strip_suffix('/') {
            Some(p) if !p.is_empty() => p,
            _ => path,
        };
        let mut rest = path.strip_prefix('/')?;
        let mut vars = Vec::new();
        let count = self.segments.len();
        for (i, seg) in self.segments.iter().enumerate() {
            let last = i + 1 == count;
            let after = match seg {
                Segment::Literal(lit) => rest.strip_prefix(lit.as_str())?,
                Segment::Var { name, suffix } => {
                    let (part, after) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                    match part.strip_suffix(suffix.as_str()) {
                        Some(value) if !value.is_empty() => vars.push((name.as_str(), value)),
                        _ => return None,
                    }
                    after
                }
            };
            // A segment ends at a `/`, or at the end of the path for the
            // last one (where a `/` would start an extra segment).
            rest = match (last, after.strip_prefix('/')) {
                (true, _) if after.is_empty() => after,
                (false, Some(next)) => next,
                _ => return None,
            };
        }
        Some(vars)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_variables_and_literals_exactly() {
        let t = PathTemplate::parse("/2010-04-01/Accounts/{account}/Messages.json").unwrap();
        let v = t
            .matches("/2010-04-01/Accounts/AC123/Messages.json")
            .unwrap();
        assert_eq!(v, vec![("account", "AC123")]);
        assert!(t.matches("/2010-04-01/Accounts//Messages.json").is_none());
        assert!(t
            .matches("/2010-04-01/Accounts/AC1/Messages.json/x")
            .is_none());
        assert!(t.matches("/2010-04-01/Accounts/AC1/Messages").is_none());
        assert!(t.matches("/2010-04-01/Accounts/AC1").is_none());
    }

    #[test]
    fn a_variable_may_carry_a_literal_suffix() {
        let t = PathTemplate::parse("/2010-04-01/Accounts/{account}/Messages/{sid}.json").unwrap();
        let v = t
            .matches("/2010-04-01/Accounts/AC1/Messages/SMabc.json")
            .unwrap();
        assert_eq!(v, vec![("account", "AC1"), ("sid", "SMabc")]);
        assert!(t
            .matches("/2010-04-01/Accounts/AC1/Messages/.json")
            .is_none());
        assert!(t
            .matches("/2010-04-01/Accounts/AC1/Messages/SMabc")
            .is_none());
    }

    #[test]
    fn one_trailing_slash_is_insignificant() {
        let t = PathTemplate::parse("/v1/Account/{auth_id}/Message/").unwrap();
        assert!(t.matches("/v1/Account/MA1/Message/").is_some());
        assert!(t.matches("/v1/Account/MA1/Message").is_some());
        assert!(t.matches("/v1/Account/MA1/Message/x").is_none());
        let t = PathTemplate::parse("/sms/json").unwrap();
        assert!(t.matches("/sms/json/").is_some());
        assert!(t.matches("/sms/jsonx").is_none());
    }

    #[test]
    fn matches_as_splitting_on_slashes_would() {
        let split = |t: &PathTemplate, path: &str| -> Option<Vec<String>> {
            // One trailing `/` is insignificant.
            let path = match path.strip_suffix('/') {
                Some(p) if !p.is_empty() => p,
                _ => path,
            };
            let mut parts = path.strip_prefix('/')?.split('/');
            let mut vars = Vec::new();
            for seg in &t.segments {
                let part = parts.next()?;
                match seg {
                    Segment::Literal(lit) if lit == part => {}
                    Segment::Literal(_) => return None,
                    Segment::Var { suffix, .. } => match part.strip_suffix(suffix.as_str()) {
                        Some(v) if !v.is_empty() => vars.push(v.to_owned()),
                        _ => return None,
                    },
                }
            }
            parts.next().is_none().then_some(vars)
        };
        let templates = [
            "/2010-04-01/Accounts/{account}/Messages.json",
            "/2010-04-01/Accounts/{account}/Messages/{sid}.json",
            "/v1/Account/{auth_id}/Message/",
            "/sms/json",
            "/{a}",
            "/{a}/",
            "/a//{b}",
            "/",
        ];
        let paths = [
            "/",
            "//",
            "/a",
            "/a/",
            "/a//b",
            "/a//",
            "/sms/json",
            "/sms/json/",
            "/sms/jsonx",
            "/sms",
            "/2010-04-01/Accounts/AC1/Messages.json",
            "/2010-04-01/Accounts/AC1/Messages.json/",
            "/2010-04-01/Accounts//Messages.json",
            "/2010-04-01/Accounts/AC1/Messages/SM1.json",
            "/2010-04-01/Accounts/AC1/Messages/.json",
            "/v1/Account/MA1/Message/",
            "/v1/Account/MA1/Message",
            "/v1/Account/MA1/Message//",
            "",
            "x",
            "/x.json",
            "/a/b/c",
        ];
        for t in templates {
            let t = PathTemplate::parse(t).unwrap();
            for p in paths {
                let got = t
                    .matches(p)
                    .map(|v| v.into_iter().map(|(_, v)| v.to_owned()).collect::<Vec<_>>());
                assert_eq!(got, split(&t, p), "{t:?} {p}");
            }
        }
    }

    #[test]
    fn rejects_bad_templates() {
        assert!(PathTemplate::parse("no-slash").is_err());
        assert!(PathTemplate::parse("/a/x{y}/b").is_err());
        assert!(PathTemplate::parse("/a/{}/b").is_err());
    }
}
