//! Which templates can match a path, found by the path's first segment.
//!
//! Every request used to be tried against every send template in file
//! order (34 of them in the shipped routes, Twilio's among the last): ~4 k
//! instructions a request, 5% of a proxied send.

use std::collections::HashMap;

use super::PathTemplate;

/// Template positions grouped by the literal first segment each starts
/// with. A template that starts with a variable is a candidate for every
/// path. Candidates keep the list's order, so the first template to match
/// is the one that matched before.
#[derive(Debug, Default)]
pub struct HeadIndex {
    by_head: HashMap<Box<str>, Box<[usize]>>,
    /// Templates whose first segment is a variable: the candidates for a
    /// head no literal claims.
    open: Box<[usize]>,
}

impl HeadIndex {
    pub fn build<'a>(templates: impl Iterator<Item = &'a PathTemplate>) -> HeadIndex {
        let firsts: Vec<Option<&str>> = templates.map(PathTemplate::first_literal).collect();
        let candidates = |head: Option<&str>| -> Box<[usize]> {
            firsts
                .iter()
                .enumerate()
                .filter(|(_, first)| first.is_none() || **first == head)
                .map(|(i, _)| i)
                .collect()
        };
        let by_head = firsts
            .iter()
            .flatten()
            .map(|&head| (Box::from(head), candidates(Some(head))))
            .collect();
        HeadIndex {
            by_head,
            open: candidates(None),
        }
    }

    /// Positions of the templates that can match `path`, in list order.
    pub fn candidates(&self, path: &str) -> &[usize] {
        let rest = path.strip_prefix('/').unwrap_or(path);
        let head = rest.split_once('/').map_or(rest, |(head, _)| head);
        self.by_head.get(head).unwrap_or(&self.open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_match(templates: &[PathTemplate], index: &HeadIndex, path: &str) -> Option<usize> {
        index
            .candidates(path)
            .iter()
            .copied()
            .find(|&i| templates[i].matches(path).is_some())
    }

    #[test]
    fn finds_what_the_full_scan_finds() {
        let templates: Vec<PathTemplate> = [
            "/messages",
            "/{any}/batches",
            "/v2/messages",
            "/v2/{kind}",
            "/2010-04-01/Accounts/{account}/Messages.json",
            "/v2/messages/{id}",
            "/",
            "/{only}",
        ]
        .iter()
        .map(|t| PathTemplate::parse(t).unwrap())
        .collect();
        let index = HeadIndex::build(templates.iter());
        for path in [
            "/messages",
            "/messages/",
            "/x/batches",
            "/v2/batches",
            "/v2/messages",
            "/v2/messages/",
            "/v2/messages/abc",
            "/v2/other",
            "/2010-04-01/Accounts/AC1/Messages.json",
            "/",
            "",
            "/unknown",
            "/unknown/deeper",
            "no-slash",
            "//",
        ] {
            let scan = templates.iter().position(|t| t.matches(path).is_some());
            assert_eq!(first_match(&templates, &index, path), scan, "{path:?}");
        }
    }
}
