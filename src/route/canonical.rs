//! Whether a request path is in the one spelling routing compares.
//!
//! Routing matches paths byte for byte, but upstreams normalise: `%2E` is
//! `.`, `/./` and `x/../` vanish, `//` may collapse, servlet stacks drop
//! `;params`. A send spelled any of those ways would miss its send template,
//! fall into its provider's passthrough prefix and go out unscored. Such a
//! path is refused, never forwarded: the official SDKs never write one.

/// `None` when `path` is canonical, else what is wrong with it.
pub fn problem(path: &str) -> Option<&'static str> {
    let bytes = path.as_bytes();
    if bytes.windows(2).any(|w| w == b"//") {
        return Some("an empty path segment (`//`)");
    }
    if path.split('/').any(|seg| seg == "." || seg == "..") {
        return Some("a dot segment (`.` or `..`)");
    }
    if bytes.iter().any(|&b| b == b';' || b == b'\\') {
        return Some("`;` or `\\` in the path");
    }
    let mut i = 0;
    while let Some(at) = bytes[i..].iter().position(|&b| b == b'%') {
        let at = i + at;
        let hex = |j: usize| bytes.get(j).and_then(|c| char::from(*c).to_digit(16));
        let Some(byte) = hex(at + 1)
            .zip(hex(at + 2))
            .map(|(h, l)| (h * 16 + l) as u8)
        else {
            return Some("a `%` that is not followed by two hex digits");
        };
        // Escaping what needs no escape, or a separator, changes what an
        // upstream sees the path as; `%2B` (`+`) and the like are fine.
        if byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/' | b'\\' | b';')
            || byte < 0x20
            || byte == 0x7f
        {
            return Some("a percent-escape of a character that needs none, or of a separator");
        }
        i = at + 3;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::problem;

    #[test]
    fn what_the_sdks_send_is_canonical() {
        for p in [
            "/2010-04-01/Accounts/AC0123/Messages.json",
            "/v2/PhoneNumbers/%2B14155550100",
            "/v1/Account/MA1/Message/",
            "/sms/json",
            "/v2/verify/0f4b1b0e-8b0c-4b0e-9b0e-0b0e0b0e0b0e",
            "/",
        ] {
            assert_eq!(problem(p), None, "{p}");
        }
    }

    #[test]
    fn spellings_an_upstream_would_normalise_are_not() {
        for p in [
            "/2010-04-01/Accounts/AC1/Messages%2Ejson",
            "/2010-04-01/Accounts/AC1/Messages%2ejson",
            "/2010-04-01/Accounts/AC1/%4Dessages.json",
            "/2010-04-01/Accounts/AC1/./Messages.json",
            "/2010-04-01/Accounts/AC1/x/../Messages.json",
            "/2010-04-01//Accounts/AC1/Messages.json",
            "/2010-04-01/Accounts/AC1%2FMessages.json",
            "/2010-04-01/Accounts/AC1/Messages.json;x=1",
            "/sms/%6Ason",
            "/sms/json/..",
            "/sms/json%",
            "/sms/json%4",
            "/sms/js%00on",
            "/sms\\json",
        ] {
            assert!(problem(p).is_some(), "{p}");
        }
    }
}
