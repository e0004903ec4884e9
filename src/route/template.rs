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
        Ok(PathTemplate { segments })
    }

    /// Matches a request path (no query); returns the variables' values.
    pub fn matches<'p>(&self, path: &'p str) -> Option<Vec<(&str, &'p str)>> {
        let rest = path.strip_prefix('/')?;
        let mut vars = Vec::new();
        let mut parts = rest.split('/');
        for seg in &self.segments {
            let part = parts.next()?;
            match seg {
                Segment::Literal(lit) if lit == part => {}
                Segment::Literal(_) => return None,
                Segment::Var { name, suffix } => match part.strip_suffix(suffix.as_str()) {
                    Some(value) if !value.is_empty() => vars.push((name.as_str(), value)),
                    _ => return None,
                },
            }
        }
        if parts.next().is_some() {
            return None;
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
    fn trailing_slash_is_significant() {
        let t = PathTemplate::parse("/v1/Account/{auth_id}/Message/").unwrap();
        assert!(t.matches("/v1/Account/MA1/Message/").is_some());
        assert!(t.matches("/v1/Account/MA1/Message").is_none());
    }

    #[test]
    fn rejects_bad_templates() {
        assert!(PathTemplate::parse("no-slash").is_err());
        assert!(PathTemplate::parse("/a/x{y}/b").is_err());
        assert!(PathTemplate::parse("/a/{}/b").is_err());
    }
}
