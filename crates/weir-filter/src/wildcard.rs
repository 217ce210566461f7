//! The `wildcard` operator: parsing a glob where `*` matches any run of
//! characters (`\*` and `\\` are literal), and matching strings against it.

/// A compiled glob: the literal pieces between the stars, so there is one
/// more piece than there are stars (pieces may be empty).
#[derive(Clone, Debug)]
pub(crate) struct Wildcard {
    pieces: Vec<String>,
}

impl Wildcard {
    /// Parses a glob. Rejects `**` and a `\` that escapes anything other
    /// than `*` or `\` (including a trailing `\`).
    pub(crate) fn parse(glob: &str) -> Result<Wildcard, String> {
        let mut pieces = vec![String::new()];
        let mut chars = glob.chars();
        let mut after_star = false;
        while let Some(c) = chars.next() {
            match c {
                '*' if after_star => return Err(format!("wildcard {glob:?} has consecutive '*'")),
                '*' => {
                    pieces.push(String::new());
                    after_star = true;
                    continue;
                }
                '\\' => match chars.next() {
                    Some(e @ ('*' | '\\')) => pieces.last_mut().expect("never empty").push(e),
                    _ => return Err(format!("wildcard {glob:?}: '\\' may only escape '*' or '\\'")),
                },
                c => pieces.last_mut().expect("never empty").push(c),
            }
            after_star = false;
        }
        Ok(Wildcard { pieces })
    }

    pub(crate) fn matches(&self, s: &str) -> bool {
        let (first, rest) = self.pieces.split_first().expect("never empty");
        let Some((last, middle)) = rest.split_last() else {
            return s == first; // no star at all
        };
        if s.len() < first.len() + last.len() || !s.starts_with(first.as_str()) || !s.ends_with(last.as_str()) {
            return false;
        }
        // Between the fixed ends, each middle piece is taken at its leftmost
        // occurrence: with only `*` wildcards, leftmost is never wrong.
        let mut window = &s[first.len()..s.len() - last.len()];
        for piece in middle {
            match window.find(piece.as_str()) {
                Some(at) => window = &window[at + piece.len()..],
                None => return false,
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(glob: &str, s: &str) -> bool {
        Wildcard::parse(glob).unwrap().matches(s)
    }

    #[test]
    fn literal_only_is_equality() {
        assert!(m("abc", "abc"));
        assert!(!m("abc", "abcd"));
        assert!(m("", ""));
        assert!(!m("", "a"));
    }

    #[test]
    fn stars() {
        assert!(m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("Simple*Service", "SimpleQueueService"));
        assert!(m("Simple*Service", "SimpleService"));
        assert!(!m("Simple*Service", "SimpleServic"));
        assert!(m("*.png", "a/b.png"));
        assert!(!m("*.png", "a/b.jpg"));
        assert!(m("a*b*c", "abc"));
        assert!(m("a*b*c", "axxbyyc"));
        assert!(!m("a*b*c", "acb"));
        assert!(m("*a*", "bab"));
        assert!(!m("*a*", "bbb"));
        // prefix and suffix must not overlap
        assert!(!m("ab*ba", "aba"));
        assert!(m("ab*ba", "abba"));
        // leftmost choice for middle pieces
        assert!(m("*aa*ab", "aaab"));
        assert!(m("*a*b*", "aba"));
        assert!(m("*a*a*", "aa"));
        assert!(m("x*a*b*y", "xabay by"));
    }

    #[test]
    fn escapes() {
        assert!(m(r"a\*b", "a*b"));
        assert!(!m(r"a\*b", "axb"));
        assert!(m(r"a\\b", r"a\b"));
        assert!(m(r"\**", "*xyz"));
        assert!(!m(r"\**", "xyz"));
        assert!(m(r"*\*", "xyz*"));
    }

    #[test]
    fn invalid_globs() {
        assert!(Wildcard::parse("a**b").is_err());
        assert!(Wildcard::parse("**").is_err());
        assert!(Wildcard::parse(r"a\b").is_err());
        assert!(Wildcard::parse(r"ab\").is_err());
        // an escaped star next to a star is fine
        assert!(Wildcard::parse(r"*\**").is_ok());
    }
}
