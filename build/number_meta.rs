//! Build-time reading of `PhoneNumberMetadata.xml`: the fields of each
//! territory that classification and parsing need, with libphonenumber's own
//! preprocessing (whitespace stripped from patterns, generalDesc lengths as
//! the union of the types' lengths, `noInternationalDialling` excluded).

/// Order of the number types in accept masks and length tables. Must match
/// `src/number/metadata.rs`.
pub const TYPE_TAGS: [&str; 11] = [
    "generalDesc",
    "premiumRate",
    "tollFree",
    "sharedCost",
    "voip",
    "personalNumber",
    "pager",
    "uan",
    "voicemail",
    "fixedLine",
    "mobile",
];

/// Bit of the territory-level `leadingDigits` prefix pattern.
pub const LEADING_BIT: u8 = 11;

pub struct Desc {
    pub pattern: String,
    /// Bit n set: national length n is possible.
    pub lengths: u32,
    pub local_only: u32,
    pub example: String,
}

pub struct Territory {
    pub id: String,
    pub calling_code: u16,
    pub main_country: bool,
    pub leading_digits: String,
    pub national_prefix_for_parsing: String,
    pub national_prefix_transform_rule: String,
    pub international_prefix: String,
    /// Indexed like `TYPE_TAGS`; `None` when the territory lacks the type.
    pub descs: Vec<Option<Desc>>,
}

fn strip_ws(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Parses `"7,9"`, `"[6-9]"`, `"6,[8-10]"` into a bitmask.
fn parse_lengths(s: &str) -> Result<u32, String> {
    let mut mask = 0u32;
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = if let Some(inner) = part.strip_prefix('[').and_then(|p| p.strip_suffix(']'))
        {
            let (a, b) = inner
                .split_once('-')
                .ok_or_else(|| format!("bad length range {part:?}"))?;
            (a.parse::<u32>(), b.parse::<u32>())
        } else {
            (part.parse::<u32>(), part.parse::<u32>())
        };
        let (lo, hi) = (
            lo.map_err(|e| format!("{part:?}: {e}"))?,
            hi.map_err(|e| format!("{part:?}: {e}"))?,
        );
        if hi > 31 || lo > hi {
            return Err(format!("bad lengths {s:?}"));
        }
        for n in lo..=hi {
            mask |= 1 << n;
        }
    }
    Ok(mask)
}

fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, tag: &str) -> Option<roxmltree::Node<'a, 'i>> {
    n.children().find(|c| c.has_tag_name(tag))
}

fn text_of(n: roxmltree::Node<'_, '_>, tag: &str) -> String {
    child(n, tag)
        .and_then(|c| c.text())
        .map(strip_ws)
        .unwrap_or_default()
}

pub fn read(xml: &str) -> Result<Vec<Territory>, String> {
    let opts = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(xml, opts).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for t in doc.descendants().filter(|n| n.has_tag_name("territory")) {
        let attr = |k: &str| t.attribute(k).map(strip_ws).unwrap_or_default();
        let id = attr("id");
        let calling_code: u16 = attr("countryCode")
            .parse()
            .map_err(|e| format!("{id}: countryCode: {e}"))?;
        let national_prefix = attr("nationalPrefix");
        let mut npp = attr("nationalPrefixForParsing");
        if npp.is_empty() {
            npp = national_prefix.clone();
        }
        let mut descs: Vec<Option<Desc>> = Vec::new();
        for tag in TYPE_TAGS {
            let Some(d) = child(t, tag) else {
                descs.push(None);
                continue;
            };
            let pl = child(d, "possibleLengths");
            let lengths_attr = |a: &str| -> Result<u32, String> {
                pl.and_then(|p| p.attribute(a))
                    .map_or(Ok(0), parse_lengths)
                    .map_err(|e| format!("{id} {tag}: {e}"))
            };
            descs.push(Some(Desc {
                pattern: text_of(d, "nationalNumberPattern"),
                lengths: lengths_attr("national")?,
                local_only: lengths_attr("localOnly")?,
                example: text_of(d, "exampleNumber"),
            }));
        }
        // generalDesc lengths: union of every type's (libphonenumber's
        // setPossibleLengthsGeneralDesc; noInternationalDialling is not one of
        // TYPE_TAGS so it is excluded).
        let (mut union, mut local) = (0u32, 0u32);
        for d in descs.iter().skip(1).flatten() {
            union |= d.lengths;
            local |= d.local_only;
        }
        // A length that is possible nationally is not local-only.
        local &= !union;
        if let Some(Some(g)) = descs.first_mut() {
            g.lengths = union;
            g.local_only = local;
        }
        // Types without their own lengths inherit generalDesc's.
        for d in descs.iter_mut().skip(1).flatten() {
            if d.lengths == 0 {
                d.lengths = union;
            }
        }
        out.push(Territory {
            id,
            calling_code,
            main_country: attr("mainCountryForCode") == "true",
            leading_digits: attr("leadingDigits"),
            national_prefix_for_parsing: npp,
            national_prefix_transform_rule: t
                .attribute("nationalPrefixTransformRule")
                .map(strip_ws)
                .unwrap_or_default(),
            international_prefix: attr("internationalPrefix"),
            descs,
        });
    }
    Ok(out)
}
